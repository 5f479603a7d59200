"""Which locked artifacts a world needs on this machine."""

from __future__ import annotations

from ppm.lockfile import export, model
from ppm.lockfile.errors import LockError
from ppm.lockfile.registries.go import escape
from ppm.lockfile.sync.host import needed_on_host, npm_fits, wheels_for_host
from ppm.lockfile.sync.store import Fetch


def fetches(world: export.World) -> list[Fetch]:
    out = []
    for p in world.packages:
        if world.ecosystem == "npm" and not npm_fits(p):
            continue
        if not needed_on_host(world.ecosystem, p):
            continue
        arts = wheels_for_host(p) if world.ecosystem == "pypi" else p.artifacts
        if world.ecosystem == "pypi" and not arts:
            continue  # a package only some other target needs
        out += [Fetch(p, a.url, a.hash) for a in arts]
        if world.ecosystem == "go":
            base = next((a.url[: -len(f"{p.version}.mod")] for a in p.artifacts if a.url.endswith(".mod")), None)
            for s in p.extra.get("go-mod-sums", []):  # type: ignore[union-attr]
                v, _, h = str(s).partition(" ")
                if base and v and h:
                    out.append(Fetch(model.Package(p.ecosystem, p.name, v, p.source), f"{base}{v}.mod", h))
            out += _go_graph_mods(p)
    return out


def _go_graph_mods(p: model.Package) -> list[Fetch]:
    """go.mod files of modules outside the build list that the go command reads when a module of
    it becomes a root (`go build -mod=mod`); only the go.mod, never a zip."""
    out = []
    for s in p.extra.get("go-graph-mods", []):  # type: ignore[union-attr]
        m, v, h = ([*str(s).split(" ", 2), "", ""])[:3]
        # the lock is untrusted: these become paths under .ppm/vendor/go
        if not m or m.startswith("/") or {".", ".."} & set(m.split("/")) or "/" in v or v in (".", "..") or not h:
            raise LockError(f"ppm.lock: go:{p.name}@{p.version}: go-graph-mods entry {s!r} is not "
                            "`<module> <version> h1:<hash>`; run `ppm lock` to rewrite it")
        out.append(Fetch(model.Package(p.ecosystem, m, v, p.source), f"{p.source}{escape(m)}/@v/{v}.mod", h))
    return out
