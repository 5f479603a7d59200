"""ppm cache stats, ppm cache prune"""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    cache = typer.Typer(name="cache", help="The local build cache: its size, and pruning it.", no_args_is_help=True)
    app.add_typer(cache)

    @cache.command(epilog="Example: ppm cache stats --json")
    def stats(json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False) -> None:
        """How big the local store is: entries, blobs, bytes in use by projects' outputs, bytes reclaimable."""
        import json
        from datetime import datetime

        from ppm.build import prune

        st = prune.stats()
        if json_out:
            print(json.dumps(st.to_json(), indent=2))
            return

        def when(t: float | None) -> str:
            return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "-"

        print(f"store        {st.root}")
        print(f"entries      {st.entries}")
        print(f"blobs        {st.blobs}")
        print(f"size         {prune.human_size(st.bytes)}")
        print(f"in use       {prune.human_size(st.bytes_in_use)} (linked into projects' outputs; never pruned)")
        print(f"reclaimable  {prune.human_size(st.reclaimable)}")
        print(f"last used    {when(st.oldest_use)} (oldest) .. {when(st.newest_use)} (newest)")

    @cache.command(epilog="Examples: ppm cache prune --max-size 5GB · ppm cache prune --older-than 30d --dry-run")
    def prune(
        max_size: Annotated[str | None, typer.Option("--max-size", help="Evict until the store holds at most this (5GB, 500MB).")] = None,
        older_than: Annotated[str | None, typer.Option("--older-than", help="Evict what was not used for this long (30d, 12h).")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go, remove nothing.")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    ) -> None:
        """Evict the least recently used cache entries. Blobs a project's outputs still use are kept;
        safe while builds run. Without options: the user config's [cache] max-size."""
        import json

        from ppm.build import prune as prune_mod
        from ppm.cli import ui
        from ppm.core import config

        try:
            size = config.parse_size(max_size, where="--max-size") if max_size is not None else None
            age = config.parse_age(older_than, where="--older-than") if older_than is not None else None
        except config.ConfigError as e:
            raise ui.UsageError(str(e)) from None
        if size is None and age is None:
            cfg = config.load()
            if cfg.max_size is None:
                raise ui.UsageError(f"give --max-size or --older-than (or set [cache] max-size in {cfg.path})")
            size = cfg.max_size
        res = prune_mod.prune(max_size=size, older_than=age, dry_run=dry_run)
        if json_out:
            print(json.dumps(res.to_json(), indent=2))
            return
        verb = "would remove" if dry_run else "removed"
        ui.info(f"{verb} {res.blobs_removed} blob(s) ({prune_mod.human_size(res.bytes_freed)}) and "
                f"{res.entries_removed} entr{'y' if res.entries_removed == 1 else 'ies'}; "
                f"the store now holds {prune_mod.human_size(res.bytes_after)}")
