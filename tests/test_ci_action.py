"""ci/action.yml's steps executed on a real project (tests/ci_runner.py plays the runner), the
reusable workflows and `ppm ci init`'s workflow under actionlint, and `ppm ci summary`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from ci_runner import run_action
from test_update_support import needs_cc

from helpers import run_ppm

pytest_plugins = ("test_update_support",)  # its fixtures: bins

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / "ci" / "action.yml"
WORKFLOWS = sorted((REPO / "ci" / "workflows").glob("*.yml"))
ACTIONLINT = shutil.which("actionlint") or next(
    (str(p) for p in [Path.home() / "go" / "bin" / "actionlint"] if p.is_file()), None)
needs_actionlint = pytest.mark.skipif(
    ACTIONLINT is None, reason="actionlint not installed (go install github.com/rhysd/actionlint/cmd/actionlint@latest)")


def _project(where: Path) -> Path:
    root = where / "proj"
    (root / "app" / "src").mkdir(parents=True)
    (root / "ppm.toml").write_text(textwrap.dedent("""\
        [project]
        name = "hello"
        version = "1.0.0"
        entry = "app"

        [components.app]
        builder = "cc"
        path = "app"
        kind = "executable"
        """))
    (root / "app" / "src" / "main.c").write_text('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
    run_ppm("lock", cwd=root, env={"PPM_OFFLINE": "1"})
    return root


def _runner_env(tmp: Path) -> tuple[Path, dict[str, str]]:
    """RUNNER_TEMP with the toolchains where actions/cache/restore would have put them (it cannot
    run here), and a `ppm` on PATH that records the remote-cache variables, then runs the real ppm."""
    from ppm.core.paths import toolchains_dir

    temp = tmp / "runner-temp"
    (temp / "ppm").mkdir(parents=True)
    (temp / "ppm" / "toolchains").symlink_to(toolchains_dir())
    spy = tmp / "spy"
    spy.mkdir()
    real = Path(sys.executable).parent / "ppm"  # the ppm of this test environment, as a runner would have it
    assert real.is_file(), "ppm must be installed in the test environment (pip install -e .)"
    (spy / "ppm").write_text(f'#!/bin/sh\necho "$* upload=${{PPM_REMOTE_UPLOAD-unset}} cache=${{PPM_REMOTE_CACHE-unset}}" '
                             f'>> "{tmp}/ppm-calls.log"\nexec "{real}" "$@"\n')
    os.chmod(spy / "ppm", 0o755)
    env = {"PATH": f"{spy}{os.pathsep}{real.parent}{os.pathsep}{os.environ['PATH']}", "PPM_OFFLINE": "1"}
    return temp, env


@needs_cc
@pytest.mark.parametrize("event", ["push", "pull_request", "pull_request_target"])
def test_check_runs_and_caches_are_saved_only_outside_pull_requests(tmp_path: Path, event: str) -> None:
    from ppm.targets import host

    root = _project(tmp_path)
    temp, env = _runner_env(tmp_path)
    res = run_action(ACTION, {"command": "check", "working-directory": "proj"}, workspace=tmp_path, temp=temp,
                     event_name=event, extra_env=env)
    assert not res.failed, "\n".join(res.logs)
    t = host().name
    bundles = json.loads(res.outputs["bundles"])
    assert bundles == {t: f"dist/{t}/app"} and (root / bundles[t]).is_file()
    assert res.outputs["artifact-name"] == f"ppm-{t}"
    assert "| target | bundle | size | sha256 |" in res.summary and f"| {t} | `app` |" in res.summary
    assert re.search(r"\| \d+ \| \d+ \| \d+ \| 0 \| \d+ \| 0 \| [\d.]+ s \|", res.summary), res.summary
    assert res.env["PPM_CACHE_DIR"] == str(temp / "ppm" / "cache")

    restores = res.uses_of("actions/cache/restore")
    saves = res.uses_of("actions/cache/save")
    assert [r.ran for r in restores] == [True, True]  # pull requests read caches
    pull = event.startswith("pull_request")
    assert [s.ran for s in saves] == [not pull, not pull]  # ...and never write them
    assert {s.with_["key"] for s in saves} == {r.with_["key"] for r in restores}
    assert restores[1].with_["key"].startswith(restores[1].with_["restore-keys"])
    assert restores[0].with_["path"] == str(temp / "ppm" / "toolchains")
    (upload,) = res.uses_of("actions/upload-artifact")
    assert upload.ran and upload.with_["name"] == f"ppm-{t}" and "proj/dist/*/*" in upload.with_["path"]
    calls = (tmp_path / "ppm-calls.log").read_text().splitlines()
    builds = [c for c in calls if c.startswith("build ")]
    assert builds and all(f"upload={0 if pull else 1}" in c and "cache=unset" in c for c in builds), calls
    assert any(c.startswith("lock --check") for c in calls)


@needs_cc
def test_release_collects_signs_and_names_the_repository_to_publish(tmp_path: Path, bins: dict[str, Path]) -> None:
    from test_update_support import make_project

    pub = make_project(tmp_path / "w")
    pub.publish("1.0.0", bins["1.0.0"])
    collected = tmp_path / "collected" / f"ppm-{pub.target}"
    collected.mkdir(parents=True)
    shutil.copy2(bins["1.1.0"], collected / "app")
    temp, env = _runner_env(tmp_path)
    env.update(PPM_KEYS_DIR=str(pub.keys_online), PPM_ROOT_KEY_DIR=str(pub.keys_root))
    res = run_action(ACTION, {"command": "release", "working-directory": "w/proj", "cache": "false",
                              "args": f"--collect {tmp_path / 'collected'} --version 1.1.0 --channel beta --rollout 10%"},
                     workspace=tmp_path, temp=temp, event_name="push", extra_env=env)
    assert not res.failed, "\n".join(res.logs)
    assert res.outputs["repository"] == str(pub.repo)
    assert "Released app 1.1.0 on beta to 10%" in res.summary
    assert not any(u.ran for u in res.uses_of("actions/upload-artifact"))  # the release job publishes the repository


@needs_cc
def test_cache_false_restores_and_saves_nothing(tmp_path: Path) -> None:
    _project(tmp_path)
    temp, env = _runner_env(tmp_path)
    res = run_action(ACTION, {"command": "build", "working-directory": "proj", "cache": "false"},
                     workspace=tmp_path, temp=temp, event_name="push", extra_env=env)
    assert not res.failed, "\n".join(res.logs)
    assert not any(u.ran for u in res.uses if u.uses.startswith("actions/cache/"))
    assert res.outputs["cache-hit"] == ""


@pytest.mark.parametrize(("inputs", "message"), [
    ({"command": "deploy"}, "command must be check, build or release"),
    ({"cache": "yes"}, "cache must be true or false"),
    ({"targets": "linux-x86_64; rm -rf /"}, "targets must be target names"),
    ({"working-directory": "nowhere-with-ppm-toml"}, "no ppm.toml"),
])
def test_bad_inputs_stop_before_anything_runs(tmp_path: Path, inputs: dict[str, str], message: str) -> None:
    (tmp_path / "nowhere-with-ppm-toml").mkdir()
    (tmp_path / "ppm.toml").write_text('[project]\nname = "x"\n')
    res = run_action(ACTION, inputs, workspace=tmp_path, temp=tmp_path / "t", event_name="push")
    assert res.failed and message in res.logs[0], res.logs
    assert res.steps["run"]["outcome"] == "skipped" and not any(u.ran for u in res.uses)


def test_action_structure() -> None:
    """What actionlint cannot check on an action file: references, shells, and the scripts' syntax."""
    spec = yaml.safe_load(ACTION.read_text())
    text = ACTION.read_text()
    ids: list[str] = []
    for step in spec["runs"]["steps"]:
        body = yaml.safe_dump(step)
        for ref in re.findall(r"steps\.([A-Za-z0-9_-]+)\.", body):
            assert ref in ids, f"step {step.get('id') or step.get('name')} refers to later or unknown step {ref}"
        if "run" in step:
            assert step.get("shell") == "bash"
            subprocess.run(["bash", "-n"], input=step["run"], text=True, check=True)
        if step.get("id"):
            ids.append(step["id"])
    for ref in set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text)):
        assert ref in spec["inputs"], f"inputs.{ref} is not declared"
    for out in spec["outputs"].values():
        for ref in re.findall(r"steps\.([A-Za-z0-9_-]+)\.", out["value"]):
            assert ref in ids
    run_step = next(s for s in spec["runs"]["steps"] if s.get("id") == "run")
    assert run_step["env"]["PPM_REMOTE_CACHE"] == "${{ inputs.remote-cache }}"


def _actionlint(*files: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ACTIONLINT, "-no-color", *map(str, files)], cwd=cwd, capture_output=True, text=True, timeout=120)


@needs_actionlint
def test_actionlint_clean_on_reusable_workflows() -> None:
    assert WORKFLOWS, "ci/workflows/ is empty"
    p = _actionlint(*WORKFLOWS, cwd=REPO)
    assert p.returncode == 0, p.stdout + p.stderr
    for wf in WORKFLOWS:
        assert "workflow_call" in yaml.safe_load(wf.read_text())[True]  # YAML 1.1 reads the key `on` as True


@needs_actionlint
def test_actionlint_checks_a_workflow_using_the_action_with_every_input(tmp_path: Path) -> None:
    # actionlint does not lint action.yml itself; it reads a local action's metadata when a
    # workflow uses it, and checks the inputs and outputs used against it. It finds local actions
    # from the project root, which it recognises by .git.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "ci").mkdir()
    shutil.copy2(ACTION, tmp_path / "ci" / "action.yml")
    inputs = yaml.safe_load(ACTION.read_text())["inputs"]
    outputs = yaml.safe_load(ACTION.read_text())["outputs"]
    with_ = "\n".join(f"          {k}: x" for k in inputs)
    uses_out = "\n".join(f"      - run: echo \"${{{{ steps.ppm.outputs.{k} }}}}\"" for k in outputs)
    wf = tmp_path / ".github" / "workflows" / "t.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(f"on: push\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n"
                  f"      - id: ppm\n        uses: ./ci\n        with:\n{with_}\n{uses_out}\n")
    p = _actionlint(wf, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    wf.write_text(wf.read_text().replace("          version: x", "          version: x\n          no-such-input: x"))
    p = _actionlint(wf, cwd=tmp_path)
    assert p.returncode != 0 and 'input "no-such-input" is not defined' in p.stdout  # the check is real


@needs_actionlint
def test_ci_init_writes_a_workflow_actionlint_accepts(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "ppm.toml").write_text('[project]\nname = "p"\nversion = "0.1.0"\ntargets = ["linux-x86_64", "linux-aarch64", '
                                   '"windows-x86_64", "macos-arm64"]\n')
    p = run_ppm("ci", "init", "--ref", "v2", cwd=root)
    wf = root / ".github" / "workflows" / "ppm.yml"
    assert "wrote .github/workflows/ppm.yml" in p.stderr
    text = wf.read_text()
    assert "ppm-build/ppm/ci@v2" in text and "windows-2022" in text and "--collect" in text
    lint = _actionlint(wf, cwd=root)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    again = run_ppm("ci", "init", cwd=root, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    assert wf.read_text() == text
    bad = run_ppm("ci", "init", "--force", "--action", "not a ref", cwd=root, check=False)
    assert bad.returncode == 1 and "not an action reference" in bad.stderr and wf.read_text() == text


def test_ci_init_names_targets_without_a_runner(tmp_path: Path) -> None:
    (tmp_path / "ppm.toml").write_text('[project]\nname = "p"\ntargets = ["wasm32-wasi"]\n')
    p = run_ppm("ci", "init", cwd=tmp_path, check=False)
    assert p.returncode == 1 and "no GitHub-hosted runner builds wasm32-wasi" in p.stderr
    assert not (tmp_path / ".github").exists()


def test_summary_counts_and_outputs(tmp_path: Path) -> None:
    from ppm.release.ci import github_outputs, summary_markdown

    build = {"actions_planned": 4, "seconds": 2.5,
             "actions": [{"status": "ran"}, {"status": "cached"}, {"status": "remote-cached"}, {"status": "up-to-date"}],
             "bundles": {"linux-x86_64": {"path": str(tmp_path / "dist" / "linux-x86_64" / "app"), "size": 2_500_000,
                                          "sha256": "ab" * 32}}}
    md = summary_markdown(build, {"project": "p", "version": "1.0.0", "channel": "beta", "rollout": 10, "seconds": 3})
    assert "| 4 | 1 | 1 | 1 | 1 | 0 | 2.5 s |" in md and "| linux-x86_64 | `app` | 2.50 MB |" in md
    assert "on beta to 10%" in md
    outs = github_outputs(build, tmp_path)
    assert json.loads(outs["bundles"]) == {"linux-x86_64": "dist/linux-x86_64/app"}
    assert outs["artifact-name"] == "ppm-linux-x86_64"
