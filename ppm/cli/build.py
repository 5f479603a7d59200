"""ppm build"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from ppm.cli.complete import components

if TYPE_CHECKING:
    from ppm.core.manifest import Manifest
    from ppm.remote.lazy import LazyRemote


def register(app: typer.Typer) -> None:
    @app.command(epilog="Examples: ppm build · ppm build core ui · ppm build --target linux-aarch64 --json")
    def build(
        components: list[str] | None = typer.Argument(None, help="Build only these components and what they need (default: all).",
                                                  autocompletion=components),
        target: list[str] | None = typer.Option(None, "--target", "-t", help="Target to build (repeatable); default: the project's targets."),
        jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, help="Actions to run at once (default: number of cores)."),
        keep_going: bool = typer.Option(False, "--keep-going", "-k", help="Go on with independent actions after a failure."),
        explain: bool = typer.Option(False, "--explain", help="Say why each action ran."),
        json_out: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors."),
        remote_cache: str | None = typer.Option(
            None, "--remote-cache", metavar="URL",
            help="Shared cache: grpc[s]://HOST:PORT[/INSTANCE] (REAPI) or http[s]://… (Bazel HTTP cache). "
                 "Also [remote] cache in ppm.toml or PPM_REMOTE_CACHE."),
        remote_executor: str | None = typer.Option(
            None, "--remote-executor", metavar="URL", help="Run actions through REAPI Execute (implies the remote cache)."),
        remote_upload: bool | None = typer.Option(
            None, "--remote-upload/--no-remote-upload",
            help="Upload what runs here to the remote cache (default: on; off for untrusted runs such as pull requests)."),
        remote_fallback: str | None = typer.Option(
            None, "--remote-fallback", metavar="local|none",
            help="When the remote executor is unreachable: build locally (local) or fail (none, the default)."),
    ) -> None:
        """Build every component for every target and bundle the entry component into one executable."""
        import json

        from ppm.build.run import build as run_build
        from ppm.cli import ui
        from ppm.cli.common import project_root
        from ppm.core.errors import PpmError

        root = project_root()
        quiet = quiet or ui.quiet()
        report = None if quiet else ui.info
        with ui.BuildProgress(quiet=quiet or json_out) as progress:
            try:
                summary = run_build(root, targets=target, jobs=jobs, keep_going=keep_going, progress=progress, report=report,
                                      components=components,
                                      remote=_remote_factory(remote_cache, remote_executor, remote_upload, remote_fallback))
            except PpmError as e:
                if json_out and e.summary is not None:
                    print(json.dumps(e.summary.to_json(), indent=2))
                raise
        if explain:
            for a in summary.actions:
                if a["status"] in ("ran", "cached"):
                    verb = {("ran", False): "ran", ("ran", True): "ran remotely", ("cached", False): "from cache",
                            ("cached", True): "from the remote cache"}[(a["status"], a["remote"])]
                    ui.info(f"{a['id']}: {verb}: {a['reason']}")
        if json_out:
            print(json.dumps(summary.to_json(), indent=2))
        if quiet:
            return
        if summary.executed == 0 and summary.cached == 0:
            ui.info(f"nothing to do: {summary.planned} actions up to date ({summary.seconds:.2f}s)")
        else:
            remote = f" ({summary.remote_cached} remote)" if summary.remote_cached else ""
            ui.info(f"built {summary.project}: {summary.executed} ran, {summary.cached} from cache{remote}, "
                    f"{summary.up_to_date} up to date in {summary.seconds:.2f}s")
        for t, b in summary.bundles.items():
            ui.info(f"  {t}: {_rel(b['path'])} ({b['size'] / 1e6:.1f} MB)")

    def _remote_factory(cache: str | None, executor: str | None, upload: bool | None,
                        fallback: str | None) -> Callable[[Manifest], LazyRemote | None]:
        """What `run_build` calls with the manifest: the remote store and executor (opened on
        first use), or None."""
        from ppm.remote.config import check_url

        # Usage errors first, before any work: a bad URL on the command line exits with 2.
        if cache:
            check_url(cache, "--remote-cache")
        if executor:
            check_url(executor, "--remote-executor", grpc_only=True)

        def make(manifest: Manifest) -> LazyRemote | None:
            from ppm.cli import ui
            from ppm.remote.config import resolve

            cfg = resolve(manifest.remote, cache=cache, executor=executor, upload=upload, fallback=fallback)
            if not cfg.enabled:
                return None
            from ppm.remote.lazy import LazyRemote

            return LazyRemote(cfg, warn=ui.warn)

        return make

    def _rel(p: str) -> str:
        import os

        try:
            return os.path.relpath(p)
        except ValueError:
            return p
