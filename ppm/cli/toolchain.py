"""`ppm toolchain list` and `ppm doctor`: which tools the builders will run, and from where."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ppm.toolchains import Toolchain

# Without these the template app cannot build; javac and native-image are optional.
REQUIRED = ("cargo", "cc", "zig", "esbuild", "pyinstaller")


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
        _print([found[n] for n in toolchains.KNOWN], as_json)

    app.add_typer(group, name="toolchain")

    @app.command("doctor")
    def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """Check the toolchains; exit 1 if a required one is neither usable nor provisionable."""
        from ppm import toolchains
        from ppm.cli import ui

        tcs = toolchains.list_all(provision=False)
        _print(tcs, as_json)
        broken = [t.name for t in tcs if t.name in REQUIRED and not t.usable and not toolchains.provisionable(t.name)]
        if broken:
            ui.error(f"missing toolchains: {', '.join(broken)} (see the notes above)")
            raise typer.Exit(1)


def _print(tcs: list["Toolchain"], as_json: bool) -> None:
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
