"""ppm clean"""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command(epilog="Example: ppm clean  (then `ppm build` restores from the cache)")
    def clean(
        keep_dist: Annotated[bool, typer.Option("--keep-dist", help="Leave dist/ (the bundles) in place.")] = False,
    ) -> None:
        """Remove the project's outputs: .ppm/ (materialized outputs, records, toolchains' incremental
        state) and dist/. The user-wide cache is untouched: see `ppm cache prune`."""
        from pathlib import Path

        from ppm.build.clean import clean as do_clean
        from ppm.cli import ui
        from ppm.core.manifest import find_root

        root = find_root(Path.cwd())
        removed = do_clean(root, dist=not keep_dist)
        ui.info(f"removed {', '.join(removed)}" if removed else "nothing to clean")
