"""ppm dev"""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command(epilog="Example: ppm dev   (edit any source and save: the app restarts; Ctrl-C ends it)")
    def dev(
        serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve UI components with live reload.")] = True,
        port: Annotated[int | None, typer.Option("--port", help="Port for the UI (default: a free one).")] = None,
        jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Actions at once (default: cores).")] = None,
    ) -> None:
        """A development loop without bundling: the host runs from its sources with its components'
        fresh outputs; every change reruns exactly the affected actions, then restarts the host."""
        import signal
        from pathlib import Path

        from ppm.build.dev import DevLoop
        from ppm.cli import ui
        from ppm.core.manifest import find_root

        def stop(*_: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        loop = DevLoop(find_root(Path.cwd()), report=ui.info, error=ui.error, jobs=jobs, serve_ui=serve, port=port)
        try:
            loop.run()
        except KeyboardInterrupt:
            pass
        finally:
            loop.stop_host()
