"""ppm ci init | summary"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    ci_app = typer.Typer(help="Continuous integration: the GitHub workflow, and the action's job summary.", no_args_is_help=True)
    app.add_typer(ci_app, name="ci")

    @ci_app.command("init")
    def init(
        action: str = typer.Option("ppm-build/ppm/ci", "--action", help="The ppm action: OWNER/REPO/ci."),
        ref: str = typer.Option("v1", "--ref", help="Tag or branch of the action to use."),
        version: str = typer.Option("", "--version", help="ppm version the action installs (default: the action's own)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing workflow."),
    ) -> None:
        """Write .github/workflows/ppm.yml: check every push and pull request, release on tags v*."""
        from ppm import targets as targets_mod
        from ppm.cli import ui
        from ppm.core import manifest
        from ppm.core.manifest import find_root
        from ppm.release.ci import write_workflow

        root = find_root(Path.cwd())
        m = manifest.load(root)
        names = [targets_mod.get(t).name for t in m.targets]
        dest = write_workflow(root, names, action=action, ref=ref, version=version, force=force)
        ui.info(f"wrote {dest.relative_to(root)} (targets: {', '.join(names)})")

    @ci_app.command("summary")
    def summary(
        build_json: Path = typer.Argument(..., help="What `ppm build --json` printed."),
        release_json: Path | None = typer.Option(None, "--release-json", help="What `ppm release --json` printed."),
        github: bool = typer.Option(False, "--github", help="Append to $GITHUB_STEP_SUMMARY and $GITHUB_OUTPUT."),
    ) -> None:
        """The job summary the GitHub Action writes: actions run and cached, bundle sizes, time."""
        import json
        import os

        from ppm.core.errors import PpmError
        from ppm.core.manifest import find_root
        from ppm.release.ci import github_outputs, summary_markdown

        try:
            build = json.loads(build_json.read_text()) if build_json.stat().st_size else {}
            rel = json.loads(release_json.read_text()) if release_json and release_json.stat().st_size else None
        except (OSError, ValueError) as e:
            raise PpmError(f"cannot read the build or release report: {e}") from None
        text = summary_markdown(build, rel)
        if not github:
            print(text, end="")
            return
        outs = github_outputs(build, find_root(Path.cwd()))
        if rel:
            outs["repository"] = str(rel.get("repository", ""))
        for var, content in (("GITHUB_STEP_SUMMARY", text),
                             ("GITHUB_OUTPUT", "".join(f"{k}={v}\n" for k, v in outs.items()))):
            path = os.environ.get(var)
            if not path:
                raise PpmError(f"--github needs ${var}", hint="run it inside a GitHub Actions step")
            with open(path, "a", encoding="utf-8") as f:
                f.write(content)
