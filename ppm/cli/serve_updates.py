"""ppm serve-updates"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve-updates")
    def serve_updates(
        port: int = typer.Option(8765, "--port", "-p", help="Port on 127.0.0.1 (0: any free port)."),
        directory: Path | None = typer.Option(None, "--dir", help="Repository directory (default: [release] repository in ppm.toml)."),
    ) -> None:
        """Serve the update repository on 127.0.0.1 (for testing; production uses any static server)."""
        import threading

        from ppm.cli import ui
        from ppm.release.tufrepo import serve

        if directory is None:
            from ppm.core.manifest import find_root
            from ppm.release.publish import repository_dir

            directory = repository_dir(find_root(Path.cwd()))
        with serve(directory, port=port) as url:
            ui.info(f"serving {directory} at {url} (Ctrl-C to stop)")
            threading.Event().wait()
