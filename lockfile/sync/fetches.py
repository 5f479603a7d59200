"""Which locked artifacts a world needs on this machine."""

from __future__ import annotations

from ppm.lockfile import export, model
from ppm.lockfile.sync.host import npm_fits, wheels_for_host
from ppm.lockfile.sync.store import Fetch


def fetches(world: export.World) -> list[Fetch]:
    out = []
    for p in world.packages:
        if world.ecosystem == "npm" and not npm_fits(p):
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
    return out
