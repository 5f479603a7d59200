"""CI glue: the workflow `ppm ci init` writes, and the job summary the GitHub Action prints.

The workflow uses ppm's composite action (`<repo>/ci@<ref>`) directly rather than calling the
reusable workflows in ci/workflows/: GitHub only runs a reusable workflow from a repository's
`.github/workflows/`, and a project should not depend on where ppm keeps them. The shape is
cargo-dist's: check on every push and pull request; on a version tag, one job per platform builds
its own bundle on a native runner, then one job collects them and signs once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ppm.core.errors import PpmError
from ppm.core.fsutil import atomic_write_text

DEFAULT_ACTION = "ppm-build/ppm/ci"
WORKFLOW_PATH = Path(".github/workflows/ppm.yml")
# Native runners per target: PyInstaller (and every host builder that cannot cross-compile)
# builds only for the machine it runs on.
RUNNERS = {
    "linux-x86_64": "ubuntu-24.04",
    "linux-aarch64": "ubuntu-24.04-arm",
    "windows-x86_64": "windows-2022",
    "macos-arm64": "macos-14",
}
_REF = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?$")


class CiError(PpmError):
    """The CI files cannot be written as asked."""


def workflow_text(targets: list[str], *, action: str = DEFAULT_ACTION, ref: str = "v1", version: str = "") -> str:
    """The .github/workflows/ppm.yml for a project releasing `targets`."""
    if not _REF.match(action) or not re.match(r"^[A-Za-z0-9_.-]+$", ref):
        raise CiError(f"{action}@{ref} is not an action reference", hint="use OWNER/REPO/ci and a tag or branch, e.g. --ref v1")
    unknown = [t for t in targets if t not in RUNNERS]
    if unknown:
        raise CiError(f"no GitHub-hosted runner builds {', '.join(unknown)}",
                      hint=f"targets with runners: {', '.join(RUNNERS)}; build the others on a remote worker")
    include = "\n".join(f"          - {{ target: {t}, runner: {RUNNERS[t]} }}" for t in targets)
    uses = f"{action}@{ref}"
    return f"""\
# Written by `ppm ci init`. Checks every push and pull request; on a tag v*, builds each
# target on its own platform's runner, then signs once and publishes the release repository.
# Pull requests restore caches but never save them or write to a remote cache (CVE-2025-36852).
name: ppm

on:
  push:
    branches: [main]
    tags: ["v*"]
  pull_request:

permissions:
  contents: read

jobs:
  check:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - uses: {uses}
        with:
          version: "{version}"
          command: check
      - name: Release plan
        if: github.event_name == 'pull_request'
        run: ppm release --plan

  build:
    if: startsWith(github.ref, 'refs/tags/v')
    needs: check
    strategy:
      fail-fast: true
      matrix:
        include:
{include}
    runs-on: ${{{{ matrix.runner }}}}
    steps:
      - uses: actions/checkout@v4
      - uses: {uses}
        with:
          version: "{version}"
          command: build
          targets: ${{{{ matrix.target }}}}

  release:
    needs: build
    runs-on: ubuntu-24.04
    environment: github-pages  # deploy-pages publishes only from this environment
    permissions:
      contents: read
      pages: write
      id-token: write
    steps:
      - uses: actions/checkout@v4
      - uses: actions/download-artifact@v4
        with:
          pattern: ppm-*
          path: ${{{{ runner.temp }}}}/collected
          merge-multiple: true
      - name: Online signing keys
        shell: bash
        env:
          PPM_ONLINE_KEYS: ${{{{ secrets.PPM_ONLINE_KEYS }}}}
        run: |
          mkdir -p "$RUNNER_TEMP/ppm-keys"
          printf '%s' "$PPM_ONLINE_KEYS" | base64 -d | tar -xz -C "$RUNNER_TEMP/ppm-keys"
          echo "PPM_KEYS_DIR=$RUNNER_TEMP/ppm-keys" >> "$GITHUB_ENV"
      - id: ppm
        uses: {uses}
        with:
          version: "{version}"
          command: release
          cache: "false"
          args: --collect ${{{{ runner.temp }}}}/collected
      - uses: actions/upload-pages-artifact@v3
        with:
          path: ${{{{ steps.ppm.outputs.repository }}}}
      - uses: actions/deploy-pages@v4
"""


def write_workflow(root: Path, targets: list[str], *, action: str = DEFAULT_ACTION, ref: str = "v1",
                   version: str = "", force: bool = False) -> Path:
    dest = root / WORKFLOW_PATH
    if dest.exists() and not force:
        raise CiError(f"{dest} already exists", hint="pass --force to replace it")
    atomic_write_text(dest, workflow_text(targets, action=action, ref=ref, version=version))
    return dest


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def summary_markdown(build: dict[str, Any], release: dict[str, Any] | None = None) -> str:
    """The job summary: actions run, cached and remote-cached, bundle sizes, time."""
    actions = build.get("actions", [])
    statuses = [str(a.get("status", "")) for a in actions]
    remote = sum(1 for s in statuses if "remote" in s)
    lines = ["### ppm", "", "| actions | run | cached | remote-cached | up to date | failed | time |",
             "| --- | --- | --- | --- | --- | --- | --- |",
             f"| {build.get('actions_planned', len(actions))} | {statuses.count('ran')} | {statuses.count('cached')} "
             f"| {remote} | {statuses.count('up-to-date')} | {statuses.count('failed')} | {float(build.get('seconds', 0)):.1f} s |"]
    bundles = build.get("bundles") or {}
    if bundles:
        lines += ["", "| target | bundle | size | sha256 |", "| --- | --- | --- | --- |"]
        for t, b in sorted(bundles.items()):
            lines.append(f"| {t} | `{Path(b['path']).name}` | {_size(int(b['size']))} | `{str(b['sha256'])[:16]}…` |")
    if release:
        lines += ["", f"Released {release.get('project')} {release.get('version')} on {release.get('channel', 'stable')} "
                      f"to {release.get('rollout', 100):g}% in {float(release.get('seconds', 0)):.1f} s."]
    return "\n".join(lines) + "\n"


def github_outputs(build: dict[str, Any], root: Path) -> dict[str, str]:
    """The action's outputs: bundle paths (relative to the project, as a JSON object) and the
    artifact name for this job's targets."""
    bundles = {t: Path(b["path"]).resolve().relative_to(root.resolve()).as_posix()
               for t, b in sorted((build.get("bundles") or {}).items())}
    return {"bundles": json.dumps(bundles, separators=(",", ":")),
            "artifact-name": "ppm-" + "-".join(sorted(bundles)) if bundles else ""}
