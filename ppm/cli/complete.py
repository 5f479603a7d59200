"""Shell completion of values: component names from the nearest ppm.toml."""

from __future__ import annotations

from pathlib import Path


def components(incomplete: str) -> list[str]:
    """The project's component names starting with `incomplete` (none outside a project, or
    when ppm.toml does not parse: completion must never print an error into the shell)."""
    import tomllib

    from ppm.core.paths import MANIFEST

    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        f = d / MANIFEST
        if f.is_file():
            try:
                data = tomllib.loads(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                return []
            comps = data.get("components")
            return sorted(n for n in comps if n.startswith(incomplete)) if isinstance(comps, dict) else []
    return []
