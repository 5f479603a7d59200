"""Per-target conditions on root requirements, each in its ecosystem's own words, evaluated for
ppm's targets: PEP 508 markers (PyPI), `cfg(...)` expressions or target triples (cargo's
`[target.'cfg(...)'.dependencies]`), npm's `os`/`cpu` lists, and ppm's own `targets = [...]`
that works for every ecosystem."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ppm.lockfile.errors import LockError

# What `rustc --print cfg --target <triple>` says for each target's triple (the keys cfg
# expressions test); the triples are ppm.targets' rust_triple.
_CARGO_CFG: dict[str, dict[str, object]] = {
    "linux-x86_64": {"triple": "x86_64-unknown-linux-gnu", "target_os": "linux", "target_family": ["unix"],
                     "target_arch": "x86_64", "target_env": "gnu", "target_vendor": "unknown",
                     "target_pointer_width": "64", "target_endian": "little", "unix": True},
    "linux-aarch64": {"triple": "aarch64-unknown-linux-gnu", "target_os": "linux", "target_family": ["unix"],
                      "target_arch": "aarch64", "target_env": "gnu", "target_vendor": "unknown",
                      "target_pointer_width": "64", "target_endian": "little", "unix": True},
    "windows-x86_64": {"triple": "x86_64-pc-windows-msvc", "target_os": "windows", "target_family": ["windows"],
                       "target_arch": "x86_64", "target_env": "msvc", "target_vendor": "pc",
                       "target_pointer_width": "64", "target_endian": "little", "windows": True},
    "macos-arm64": {"triple": "aarch64-apple-darwin", "target_os": "macos", "target_family": ["unix"],
                    "target_arch": "aarch64", "target_env": "", "target_vendor": "apple",
                    "target_pointer_width": "64", "target_endian": "little", "unix": True},
    "wasm32-wasi": {"triple": "wasm32-wasip1", "target_os": "wasi", "target_family": ["wasm"],
                    "target_arch": "wasm32", "target_env": "p1", "target_vendor": "unknown",
                    "target_pointer_width": "32", "target_endian": "little"},
}
# npm's spelling of each target (process.platform, process.arch)
_NPM: dict[str, tuple[str, str]] = {
    "linux-x86_64": ("linux", "x64"), "linux-aarch64": ("linux", "arm64"), "windows-x86_64": ("win32", "x64"),
    "macos-arm64": ("darwin", "arm64"), "wasm32-wasi": ("wasi", "wasm32"),
}

_TOKEN = re.compile(r'\s*(?:(?P<str>"[^"]*")|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<sym>[(),=]))')


def cfg_matches(expr: str, target: str) -> bool:
    """cargo's platform spec: a target triple, or `cfg(...)` with all/any/not, `key = "value"`
    and bare names (https://doc.rust-lang.org/cargo/reference/specifying-dependencies.html#platform-specific-dependencies)."""
    facts = _CARGO_CFG[target]
    expr = expr.strip()
    if not expr.startswith("cfg("):
        return expr == facts["triple"]
    tokens = _tokens(expr)
    pos = 0

    def take(kind: str | None = None, value: str | None = None) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("it ends too early")
        k, v = tokens[pos]
        if (kind and k != kind) or (value and v != value):
            raise ValueError(f"unexpected {v!r}")
        pos += 1
        return v

    def pred() -> bool:
        name = take("ident")
        if name in ("all", "any", "not") and pos < len(tokens) and tokens[pos][1] == "(":
            take("sym", "(")
            vals = []
            while tokens[pos][1] != ")":
                vals.append(pred())
                if tokens[pos][1] == ",":
                    take("sym", ",")
            take("sym", ")")
            if name == "not":
                if len(vals) != 1:
                    raise ValueError("not() takes one predicate")
                return not vals[0]
            return all(vals) if name == "all" else any(vals)
        if pos < len(tokens) and tokens[pos][1] == "=":
            take("sym", "=")
            value = take("str")[1:-1]
            have = facts.get(name, "")
            return value in have if isinstance(have, list) else value == have
        return bool(facts.get(name, False))

    take("ident", "cfg")
    take("sym", "(")
    result = pred()
    take("sym", ")")
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos][1]!r}")
    return result


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, i = [], 0
    while i < len(expr):
        if expr[i].isspace():
            i += 1
            continue
        m = _TOKEN.match(expr, i)
        if not m:
            raise ValueError(f"unexpected {expr[i:i + 10]!r}")
        kind = m.lastgroup or "sym"
        out.append((kind, m.group(kind)))
        i = m.end()
    return out


def npm_matches(values: Iterable[str], here: str) -> bool:
    """npm's `os`/`cpu` rule: `!x` excludes x; any plain entry makes the list an allow-list."""
    vals = list(values)
    neg = {v[1:] for v in vals if v.startswith("!")}
    pos = {v for v in vals if not v.startswith("!")}
    return here not in neg and (not pos or here in pos)


def marker_matches(marker: str, target: str) -> bool:
    from packaging.markers import Marker

    from ppm.lockfile.resolvers.pypi import marker_env

    return Marker(marker).evaluate(marker_env(target))


def applies(ecosystem: str, name: str, *, targets: Sequence[str] = (), marker: str = "", cfg: str = "",
            os: Sequence[str] = (), cpu: Sequence[str] = (), on: str) -> bool:
    """Whether a root requirement with these conditions is needed on target `on`."""
    if targets and on not in targets:
        return False
    try:
        if marker and not marker_matches(marker, on):
            return False
        if cfg and not cfg_matches(cfg, on):
            return False
    except Exception as e:  # an unparsable condition: say which package carries it
        raise LockError(f"{ecosystem}:{name}: cannot read the condition {marker or cfg!r}: {e}") from None
    plat, arch = _NPM[on]
    return npm_matches(os, plat) and npm_matches(cpu, arch)


def check(ecosystem: str, name: str, *, marker: str = "", cfg: str = "") -> None:
    """Refuse a condition that cannot be read, before anything is written."""
    for t in _CARGO_CFG:
        applies(ecosystem, name, marker=marker, cfg=cfg, on=t)


def cargo_cfg(cfg: str, targets: Sequence[str]) -> str:
    """The [target.'...'] key cargo reads for a root: its own cfg, ppm's `targets` spelled as cfg,
    or both under all(); "" for a root every target needs."""
    if cfg and not cfg.startswith("cfg("):
        return cfg  # a target triple names one platform already
    parts = []
    if targets:
        each = [f'all(target_os = "{_CARGO_CFG[t]["target_os"]}", target_arch = "{_CARGO_CFG[t]["target_arch"]}")'
                for t in sorted(targets)]
        parts.append(each[0] if len(each) == 1 else f"any({', '.join(each)})")
    if cfg:
        parts.append(cfg.strip()[4:-1])
    if not parts:
        return ""
    return f"cfg({parts[0]})" if len(parts) == 1 else f"cfg(all({', '.join(parts)}))"
