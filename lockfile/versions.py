"""Versions and requirements of each ecosystem: PEP 440 (via `packaging`), npm semver ranges,
Cargo version requirements, Go semantic versions, Maven versions and ranges.

Each `*Req` has `.contains(version) -> bool`; each version type sorts by its ecosystem's rules."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

__all__ = [
    "CargoReq",
    "GoVersion",
    "MavenRange",
    "MavenVersion",
    "NpmRange",
    "SemVer",
    "cargo_series",
    "go_version_key",
    "pep440_spec",
    "pep440_version",
]


class VersionError(ValueError):
    """A version or requirement that does not parse in its ecosystem's grammar."""


# ---------------------------------------------------------------------------------------------
# PEP 440


def pep440_version(s: str) -> Version | None:
    try:
        return Version(s)
    except InvalidVersion:
        return None


def pep440_spec(s: str) -> SpecifierSet:
    s = s.strip()
    if s in ("", "*"):
        return SpecifierSet()
    if re.fullmatch(r"\d[\w.!+]*", s):  # a bare version means "exactly this"
        s = f"=={s}"
    try:
        return SpecifierSet(s)
    except InvalidSpecifier:
        raise VersionError(f"not a PEP 440 version specifier: {s!r}") from None


# ---------------------------------------------------------------------------------------------
# Semantic versions (npm, Cargo, Go)

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z.-]+))?$"
)


@functools.total_ordering
@dataclass(frozen=True)
class SemVer:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, s: str) -> SemVer:
        m = _SEMVER.match(s.strip())
        if not m:
            raise VersionError(f"not a semantic version: {s!r}")
        pre = tuple(m.group(4).split(".")) if m.group(4) else ()
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre, m.group(5) or "")

    @classmethod
    def try_parse(cls, s: str) -> SemVer | None:
        try:
            return cls.parse(s)
        except VersionError:
            return None

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __post_init__(self) -> None:
        # A pre-release sorts before its release; numeric identifiers before alphanumeric ones.
        # Computed once: resolvers compare versions hundreds of thousands of times.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        object.__setattr__(self, "_k", ((self.major, self.minor, self.patch), 0 if self.pre else 1, pre))

    def _key(self) -> tuple:
        return self._k  # type: ignore[attr-defined]

    def __lt__(self, other: SemVer) -> bool:
        return self._k < other._k  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._k == other._k  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._k)  # type: ignore[attr-defined]

    def __str__(self) -> str:
        s = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            s += "-" + ".".join(self.pre)
        if self.build:
            s += "+" + self.build
        return s


@dataclass(frozen=True)
class _Cmp:
    op: str  # one of < <= > >= =
    v: SemVer

    def test(self, x: SemVer) -> bool:
        a, b, op = x._k, self.v._k, self.op  # type: ignore[attr-defined]
        if op == ">=":
            return a >= b
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        return a == b


def _partial(s: str) -> tuple[list[int | None], tuple[str, ...]]:
    """'1.2' -> ([1, 2, None], ()); 'x', '*' and missing parts are None."""
    s = s.strip().lstrip("v=").strip()
    pre: tuple[str, ...] = ()
    m = re.match(r"^([^-+]*)(?:-([^+]*))?(?:\+.*)?$", s)
    if not m:
        raise VersionError(f"bad version {s!r}")
    core, p = m.group(1), m.group(2)
    if p:
        pre = tuple(p.split("."))
    parts: list[int | None] = []
    for piece in core.split(".") if core else []:
        if piece in ("x", "X", "*", ""):
            parts.append(None)
        elif piece.isdigit():
            parts.append(int(piece))
        else:
            raise VersionError(f"bad version {s!r}")
    while len(parts) < 3:
        parts.append(None)
    if len(parts) > 3:
        raise VersionError(f"bad version {s!r}")
    # Anything after a wildcard is a wildcard too: 1.x.3 == 1.x.x
    for i in range(3):
        if parts[i] is None:
            parts[i + 1:] = [None] * (2 - i)
            break
    return parts, pre


def _v(parts: list[int | None], pre: tuple[str, ...] = ()) -> SemVer:
    return SemVer(parts[0] or 0, parts[1] or 0, parts[2] or 0, pre)


def _caret(parts: list[int | None], pre: tuple[str, ...]) -> list[_Cmp]:
    ma, mi, pa = parts
    lo = _Cmp(">=", _v(parts, pre))
    if ma is None:
        return []
    if ma > 0 or mi is None:
        return [lo, _Cmp("<", SemVer(ma + 1, 0, 0, ("0",)))]
    if mi > 0 or pa is None:
        return [lo, _Cmp("<", SemVer(0, mi + 1, 0, ("0",)))]
    return [lo, _Cmp("<", SemVer(0, 0, pa + 1, ("0",)))]


def _tilde(parts: list[int | None], pre: tuple[str, ...]) -> list[_Cmp]:
    ma, mi, _ = parts
    if ma is None:
        return []
    lo = _Cmp(">=", _v(parts, pre))
    if mi is None:
        return [lo, _Cmp("<", SemVer(ma + 1, 0, 0, ("0",)))]
    return [lo, _Cmp("<", SemVer(ma, mi + 1, 0, ("0",)))]


def _wild(parts: list[int | None], pre: tuple[str, ...]) -> list[_Cmp]:
    """'1.2' / '1.2.x' / '=1' -> a range; a full version -> exactly it."""
    ma, mi, pa = parts
    if ma is None:
        return []
    if mi is None:
        return [_Cmp(">=", SemVer(ma, 0, 0)), _Cmp("<", SemVer(ma + 1, 0, 0, ("0",)))]
    if pa is None:
        return [_Cmp(">=", SemVer(ma, mi, 0)), _Cmp("<", SemVer(ma, mi + 1, 0, ("0",)))]
    return [_Cmp("=", SemVer(ma, mi, pa, pre))]


def _relational(op: str, parts: list[int | None], pre: tuple[str, ...]) -> list[_Cmp]:
    ma, mi, pa = parts
    if ma is None:
        return [] if op in (">=", "<=") else [_Cmp("<", SemVer(0, 0, 0, ("0",)))]
    if None not in parts:
        return [_Cmp(op, SemVer(ma, mi, pa, pre))]  # type: ignore[arg-type]
    # Partial versions: >1.2 means >=1.3.0, <=1.2 means <1.3.0
    nxt = SemVer(ma + 1, 0, 0) if mi is None else SemVer(ma, mi + 1, 0)
    if op == ">":
        return [_Cmp(">=", nxt)]
    if op == "<=":
        return [_Cmp("<", SemVer(nxt.major, nxt.minor, 0, ("0",)))]
    if op == ">=":
        return [_Cmp(">=", _v(parts))]
    return [_Cmp("<", SemVer(ma, mi or 0, 0, ("0",)))]


def _prerelease_allowed(v: SemVer, cmps: list[_Cmp]) -> bool:
    """npm and Cargo: a pre-release matches only if a comparator names a pre-release of the same
    major.minor.patch (so ^1.2.3-beta.1 admits 1.2.3-beta.2 but not 1.3.0-alpha)."""
    return not v.pre or any(c.v.pre and c.v.release == v.release for c in cmps)


class NpmRange:
    """node-semver ranges: `||`, hyphen ranges, `^`, `~`, x-ranges, comparators."""

    def __init__(self, spec: str) -> None:
        self.spec = spec.strip()
        self.sets: list[list[_Cmp]] = []
        for alt in (self.spec or "*").split("||"):
            self.sets.append(self._parse_set(alt.strip()))

    @staticmethod
    def _parse_set(s: str) -> list[_Cmp]:
        if s in ("", "*", "x", "X", "latest"):
            return []
        m = re.fullmatch(r"(\S+)\s+-\s+(\S+)", s)
        if m:
            lo, lpre = _partial(m.group(1))
            hi, hpre = _partial(m.group(2))
            return _relational(">=", lo, lpre) + _relational("<=", hi, hpre)
        s = re.sub(r"(<=|>=|<|>|=|\^|~>?)\s+", r"\1", s)  # "> 1.2" -> ">1.2"
        out: list[_Cmp] = []
        for tok in s.split():
            m = re.fullmatch(r"(<=|>=|<|>|=|\^|~>?)?(.*)", tok)
            assert m
            op, rest = m.group(1) or "", m.group(2)
            parts, pre = _partial(rest)
            if op == "^":
                out += _caret(parts, pre)
            elif op.startswith("~"):
                out += _tilde(parts, pre)
            elif op in ("", "="):
                out += _wild(parts, pre)
            else:
                out += _relational(op, parts, pre)
        return out

    def contains(self, v: SemVer | str, include_prerelease: bool = False) -> bool:
        if isinstance(v, str):
            v = SemVer.parse(v)
        for cmps in self.sets:
            if all(c.test(v) for c in cmps) and (include_prerelease or _prerelease_allowed(v, cmps)):
                return True
        return False

    def __str__(self) -> str:
        return self.spec


class CargoReq:
    """Cargo version requirements: comma-separated; a bare version is a caret requirement."""

    def __init__(self, spec: str) -> None:
        self.spec = spec.strip()
        self.cmps: list[_Cmp] = []
        for tok in (self.spec or "*").split(","):
            tok = tok.strip()
            m = re.fullmatch(r"(<=|>=|<|>|=|\^|~)?\s*(.*)", tok)
            if not m:
                raise VersionError(f"bad Cargo version requirement {spec!r}")
            op, rest = m.group(1) or "", m.group(2)
            parts, pre = _partial(rest)
            if op in ("", "^"):
                wildcard = op == "" and re.search(r"[*xX]", rest) is not None
                self.cmps += _wild(parts, pre) if wildcard else _caret(parts, pre)
            elif op == "~":
                self.cmps += _tilde(parts, pre)
            elif op == "=":
                self.cmps += _wild(parts, pre)
            else:
                self.cmps += _relational(op, parts, pre)
        self.lower = next((c.v for c in self.cmps if c.op in (">=", "=", ">")), SemVer(0, 0, 0))

    def contains(self, v: SemVer | str) -> bool:
        if isinstance(v, str):
            v = SemVer.parse(v)
        return all(c.test(v) for c in self.cmps) and _prerelease_allowed(v, self.cmps)

    def __str__(self) -> str:
        return self.spec


def cargo_series(v: SemVer) -> str:
    """The semver-compatible series Cargo allows one version of: '1', '0.3', '0.0.4'."""
    if v.major:
        return str(v.major)
    if v.minor:
        return f"0.{v.minor}"
    return f"0.0.{v.patch}"


# ---------------------------------------------------------------------------------------------
# Go


class GoVersion(SemVer):
    """Go module versions: 'v' + semver; pseudo-versions are pre-releases; '+incompatible' is build."""

    @classmethod
    def parse(cls, s: str) -> GoVersion:
        if not s.startswith("v"):
            raise VersionError(f"Go versions start with 'v': {s!r}")
        v = SemVer.parse(s)
        return cls(v.major, v.minor, v.patch, v.pre, v.build)

    def __str__(self) -> str:
        return "v" + super().__str__()


def go_version_key(s: str) -> GoVersion:
    return GoVersion.parse(s)


# ---------------------------------------------------------------------------------------------
# Maven (ComparableVersion)

_QUALIFIERS = {"alpha": 0, "a": 0, "beta": 1, "b": 1, "milestone": 2, "m": 2, "rc": 3, "cr": 3,
               "snapshot": 4, "": 5, "ga": 5, "final": 5, "release": 5, "sp": 6}


def _maven_items(s: str) -> list[tuple[int, int | str]]:
    """Tokens as (kind, value): kind 0 = qualifier rank, 1 = unknown qualifier, 2 = number."""
    s = s.lower()
    tokens = re.findall(r"\d+|[a-z]+", s)
    items: list[tuple[int, int | str]] = []
    for i, t in enumerate(tokens):
        if t.isdigit():
            items.append((2, int(t)))
        else:
            # 'a1' style shorthand only when followed by a digit
            if t in ("a", "b", "m") and not (i + 1 < len(tokens) and tokens[i + 1].isdigit()):
                items.append((1, t))
            elif t in _QUALIFIERS:
                items.append((0, _QUALIFIERS[t]))
            else:
                items.append((1, t))
    # Trailing "null" items (0, '', 'ga', 'final') do not change the version: 1.0 == 1 == 1.0.0
    while items and items[-1] in ((2, 0), (0, 5)):
        items.pop()
    return items


def _maven_cmp_item(a: tuple[int, int | str] | None, b: tuple[int, int | str] | None) -> int:
    pad = (0, 5)  # missing item compares like the release qualifier / zero
    if a is None and b is None:
        return 0
    if a is None:
        return -_maven_cmp_item(b, None)
    if b is None:
        if a[0] == 2:
            return 1 if a[1] != 0 else 0
        if a[0] == 1:
            return 1  # unknown qualifiers sort after every known one, the release included
        return (a[1] > pad[1]) - (a[1] < pad[1])  # type: ignore[operator]
    if a[0] != b[0]:
        # number > unknown qualifier > known qualifier (roughly ComparableVersion's rules)
        return 1 if a[0] > b[0] else -1
    return (a[1] > b[1]) - (a[1] < b[1])  # type: ignore[operator]


@functools.total_ordering
class MavenVersion:
    def __init__(self, s: str) -> None:
        self.text = s
        self.items = _maven_items(s)

    def _cmp(self, other: MavenVersion) -> int:
        n = max(len(self.items), len(other.items))
        for i in range(n):
            a = self.items[i] if i < len(self.items) else None
            b = other.items[i] if i < len(other.items) else None
            c = _maven_cmp_item(a, b)
            if c:
                return c
        return 0

    def __lt__(self, other: MavenVersion) -> bool:
        return self._cmp(other) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MavenVersion) and self._cmp(other) == 0

    def __hash__(self) -> int:
        return hash(tuple(self.items))

    def __str__(self) -> str:
        return self.text

    @property
    def is_snapshot(self) -> bool:
        return self.text.upper().endswith("SNAPSHOT")


class MavenRange:
    """A soft requirement ('1.0': prefer, any version acceptable) or hard ranges '[1.0,2.0)'."""

    def __init__(self, spec: str) -> None:
        self.spec = spec.strip()
        self.soft: MavenVersion | None = None
        self.ranges: list[Callable[[MavenVersion], bool]] = []
        if not self.spec.startswith(("[", "(")):
            self.soft = MavenVersion(self.spec)
            return
        for m in re.finditer(r"([\[(])([^\])]*)([\])])", self.spec):
            lo_inc, body, hi_inc = m.group(1) == "[", m.group(2), m.group(3) == "]"
            if "," not in body:
                exact = MavenVersion(body.strip())
                self.ranges.append(exact.__eq__)
                continue
            lo_s, hi_s = (x.strip() for x in body.split(",", 1))
            lo = MavenVersion(lo_s) if lo_s else None
            hi = MavenVersion(hi_s) if hi_s else None

            def test(v: MavenVersion, lo=lo, hi=hi, li=lo_inc, hi_i=hi_inc) -> bool:
                if lo is not None and (v < lo or (v == lo and not li)):
                    return False
                return not (hi is not None and (v > hi or (v == hi and not hi_i)))

            self.ranges.append(test)
        if not self.ranges:
            raise VersionError(f"bad Maven version range {spec!r}")

    def contains(self, v: MavenVersion | str) -> bool:
        if isinstance(v, str):
            v = MavenVersion(v)
        if self.soft is not None:
            return v == self.soft
        return any(r(v) for r in self.ranges)

    def __str__(self) -> str:
        return self.spec
