"""`ppm toolchain list`: which tools the builders will run, and from where."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ppm.toolchains import Toolchain

def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Inspect and provision the toolchains builders run.", no_args_is_help=True)

    @group.command("list")
    def list_(
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
        provision: bool = typer.Option(False, "--provision", help="Download the provisionable toolchains that are missing."),
    ) -> None:
        """List every toolchain: version, whether it is usable, and where it comes from."""
        from ppm import toolchains
        from ppm.cli import ui

        found = toolchains.resolve(toolchains.KNOWN, provision=provision, report=ui.info)
        print_table([found[n] for n in toolchains.KNOWN], as_json)

    app.add_typer(group, name="toolchain")


def print_table(tcs: list[Toolchain], as_json: bool) -> None:
    if as_json:
        import dataclasses
        import json

        print(json.dumps([dataclasses.asdict(t) for t in tcs], indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("toolchain", "version", "usable", "source"):
        table.add_column(col, no_wrap=col != "source", overflow="fold")
    for t in tcs:
        usable = "[green]yes[/]" if t.usable else "[red]no[/]"
        detail = escape(t.source) if t.usable else f"[yellow]{escape(t.note)}[/]"
        table.add_row(t.name, t.version or "-", usable, detail)
    Console(highlight=False).print(table)
