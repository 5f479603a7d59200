"""ppm worker: a remote-execution bot (REAPI's Remote Workers API), and its action runner."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    worker_app = typer.Typer(help="Run actions for a remote-execution server (REAPI Remote Workers API).",
                             invoke_without_command=True, no_args_is_help=False)
    app.add_typer(worker_app, name="worker")

    @worker_app.callback(invoke_without_command=True)
    def worker(
        ctx: typer.Context,
        server: str | None = typer.Option(None, "--server", metavar="URL", help="The server: grpc[s]://HOST:PORT[/INSTANCE]."),
        jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Leases to run at once."),
        platform: list[str] | None = typer.Option(
            None, "--platform", metavar="KEY=VALUE", help="An extra platform property to offer (repeatable)."),
        work_dir: Path | None = typer.Option(None, "--work-dir", help="Where leases run (default: a ppm cache folder)."),
        toolchain: list[str] | None = typer.Option(
            None, "--toolchain", metavar="NAME",
            help="Offer only this found toolchain (repeatable; default: every one usable here; ppm's "
                 "provisioned ones are fetched per lease, never offered). "
                 "BuildGrid matches on every subset of what a bot offers: fewer is cheaper per lease."),
    ) -> None:
        """Take leases from SERVER and run them until SIGTERM."""
        if ctx.invoked_subcommand is not None:
            return
        import logging
        import os

        from ppm.core.paths import cache_dir
        from ppm.remote.config import RemoteConfigError, check_url

        if not server:
            raise RemoteConfigError("ppm worker needs --server URL", hint="e.g. ppm worker --server grpc://127.0.0.1:50051")
        check_url(server, "--server", grpc_only=True)
        props: list[tuple[str, str]] = []
        for item in platform or []:
            k, sep, v = item.partition("=")
            if not sep or not k:
                raise RemoteConfigError(f"--platform {item!r}: expected KEY=VALUE")
            props.append((k, v))
        logging.basicConfig(level=logging.DEBUG if os.environ.get("PPM_WORKER_DEBUG") else logging.INFO, format="%(asctime)s ppm worker: %(message)s")
        from ppm.remote.worker import run

        raise typer.Exit(run(server, jobs=jobs, platform=props, work_dir=work_dir or cache_dir() / "worker",
                             only=toolchain or None))

    @worker_app.command("exec", hidden=True)
    def exec_(action_file: str = typer.Argument(..., help="The action's key ingredients (.ppm-action.json).")) -> None:
        """Run one ppm action in the current directory (a REAPI input root): what a lease's Command names."""
        from ppm.remote.runner import main

        raise typer.Exit(main(action_file))
