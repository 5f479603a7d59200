"""ppm release [--plan | --collect DIR | --resign], ppm release promote VERSION"""

from __future__ import annotations

from pathlib import Path

import typer


def _expiry(root_days: int, targets_days: int, timestamp_days: int) -> object:
    from datetime import timedelta

    from ppm.release.tufrepo import Expiry

    return Expiry(root=timedelta(days=root_days), targets=timedelta(days=targets_days),
                  snapshot=timedelta(days=targets_days), timestamp=timedelta(days=timestamp_days))


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _pct(x: float) -> str:
    """0.0001 -> '0.01%' rather than '0%': small patches are the point of the report."""
    return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x * 100:.2g}%"


def _rollout(value: str) -> float:
    from ppm.release.channels import ChannelError, parse_rollout

    try:
        return parse_rollout(value)
    except ChannelError as e:
        raise typer.BadParameter(e.message) from None


def _print_plan(plan: dict, json_out: bool) -> None:
    import json

    from ppm.cli import ui

    if json_out:
        print(json.dumps(plan, indent=2))
        return
    ui.info(f"would release {plan['project']} {plan['version']} on {plan['channel']} to {plan['rollout']:g}% of installs")
    ui.info(f"  repository {plan['repository']}: {plan['repository_state']}")
    for t, r in plan["targets"].items():
        patches = ", ".join(r["patches_from"]) or "none"
        move = "" if r["channel_moves"] else f" (the channel stays at {r['channel_now']})"
        ui.info(f"  {t}: {r['bundle']}; patches from {patches}{move}")
    for p in plan["problems"]:
        ui.warn(f"would refuse: {p}")


def register(app: typer.Typer) -> None:
    release_app = typer.Typer(help="Publish bundles, patches and signed update metadata; move versions between channels.",
                              invoke_without_command=True, no_args_is_help=False)
    app.add_typer(release_app, name="release")

    @release_app.callback()
    def release(
        ctx: typer.Context,
        version: str | None = typer.Option(None, "--version", help="Version to publish (default: ppm.toml's)."),
        from_n: int = typer.Option(3, "--from", min=0, help="Make patches from this many earlier versions."),
        force: bool = typer.Option(False, "--force", help="Publish even if the version exists or is not the newest."),
        target: list[str] | None = typer.Option(None, "--target", "-t", help="Target to release (repeatable)."),
        keys_dir: Path | None = typer.Option(None, "--keys-dir", help="Online keys (default: $PPM_KEYS_DIR or the user data dir)."),
        patch_ratio: float = typer.Option(0.8, "--patch-ratio", help="Publish a patch only below this fraction of the compressed bundle."),
        channel: str = typer.Option("stable", "--channel", help="Channel to publish on (stable, beta, …)."),
        rollout: str = typer.Option("100%", "--rollout", help="Share of installs offered this version, e.g. 10%."),
        collect: Path | None = typer.Option(None, "--collect", help="Publish the bundles other runners built: DIR/<target>/<bundle>."),
        plan: bool = typer.Option(False, "--plan", help="Print what a release would publish; build, sign and change nothing."),
        resign: bool = typer.Option(False, "--resign", help="Only re-sign the metadata with fresh expiry dates."),
        targets_days: int = typer.Option(90, "--targets-expiry-days"),
        timestamp_days: int = typer.Option(7, "--timestamp-expiry-days"),
        json_out: bool = typer.Option(False, "--json", help="Print the release report as JSON."),
    ) -> None:
        """Publish bundles, zstd patches from earlier versions, and signed update metadata to the
        repository `[release]` in ppm.toml names."""
        if ctx.invoked_subcommand:
            ctx.obj = {"keys_dir": keys_dir, "targets_days": targets_days, "timestamp_days": timestamp_days}
            return
        import json

        from ppm.cli import ui
        from ppm.core.manifest import find_root

        pct = _rollout(rollout)
        root = find_root(Path.cwd())
        if plan:
            from ppm.release.plan import plan_release

            _print_plan(plan_release(root, version=version, channel=channel, rollout=pct, from_n=from_n, targets=target,
                                     collect_dir=collect, force=force), json_out)
            return
        from ppm.release.publish import release as run_release
        from ppm.release.publish import resign as run_resign

        expiry = _expiry(365, targets_days, timestamp_days)
        if resign:
            v = run_resign(root, keys_dir=keys_dir, expiry=expiry)  # type: ignore[arg-type]
            ui.info(f"re-signed the update metadata (targets version {v})")
            return
        bundles = None
        if collect is not None:
            from ppm.release.collect import collect_bundles

            bundles = collect_bundles(collect, only=target)
        rep = run_release(root, version=version, from_n=from_n, force=force, targets=target, keys_dir=keys_dir,
                          expiry=expiry, patch_ratio=patch_ratio,  # type: ignore[arg-type]
                          report=None if json_out else ui.info, bundles=bundles, channel=channel, rollout=pct)
        if json_out:
            print(json.dumps(rep.to_json(), indent=2))
            return
        ui.info(f"released {rep.project} {rep.version} on {rep.channel} to {rep.rollout:g}% in {rep.seconds:.1f}s "
                f"(metadata version {rep.targets_version})")
        for t, r in rep.targets.items():
            z = (f"zstd {_size(r.compressed_size)} ({r.compressed_size / max(r.size, 1):.0%}, {r.compress_seconds:.1f}s)"
                 if r.compressed else r.compress_note)
            ui.info(f"  {t}: {r.bundle} {_size(r.size)}, {z}")
            for p in r.patches:
                state = "published" if p.published else f"not published: {p.reason}"
                ui.info(f"    patch from {p.from_version}: {_size(p.size)} ({_pct(p.ratio)} of the download, "
                        f"{p.method}, {p.seconds:.1f}s) {state}")

    @release_app.command("promote")
    def promote(
        ctx: typer.Context,
        version: str = typer.Argument(..., help="A published version."),
        channel: str | None = typer.Option(None, "--channel", help="Channel to move it to (default: the one it is on)."),
        rollout: str = typer.Option("100%", "--rollout", help="Share of installs offered it, e.g. 50%."),
        force: bool = typer.Option(False, "--force", help="Allow moving a channel back to an older version."),
    ) -> None:
        """Widen a rollout, or move a version to another channel (never backwards)."""
        from ppm.cli import ui
        from ppm.core.manifest import find_root
        from ppm.release.publish import promote as run_promote

        opts = ctx.obj or {}
        done = run_promote(find_root(Path.cwd()), version, channel=channel, rollout=_rollout(rollout),
                           keys_dir=opts.get("keys_dir"), force=force,
                           expiry=_expiry(365, opts.get("targets_days", 90), opts.get("timestamp_days", 7)))  # type: ignore[arg-type]
        for t, what in done.items():
            ui.info(f"{t}: {version} now on {what}")
