"""`ppm doctor`: check the toolchains; exit 1 when a required one is neither usable nor provisionable."""

from __future__ import annotations

import typer

from ppm.cli.toolchain import print_table

# Without these the template app cannot build; javac and native-image are optional.
REQUIRED = ("cargo", "cc", "zig", "esbuild", "pyinstaller")


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """Check the toolchains; exit 1 if a required one is neither usable nor provisionable."""
        from ppm import toolchains
        from ppm.cli import ui

        tcs = toolchains.list_all(provision=False)
        print_table(tcs, as_json)
        broken = [t.name for t in tcs if t.name in REQUIRED and not t.usable and not toolchains.provisionable(t.name)]
        if broken:
            ui.error(f"missing toolchains: {', '.join(broken)} (see the notes above)")
            raise typer.Exit(1)
