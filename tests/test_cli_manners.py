"""CLI manners through real processes: shell completion in a real bash, -q/-v, NO_COLOR and
--color, help with an example for every command and first sentences not cut off."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_ppm

BIN = Path(sys.executable).parent  # the venv's bin, where the `ppm` script is installed


def complete(words: str, cwd: Path) -> list[str]:
    """What bash offers for `words` + TAB, through the script `ppm --show-completion` prints."""
    script = f"""
        set -e
        eval "$(ppm --show-completion bash)"
        COMP_WORDS=({words})
        COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
        [[ "{words}" == *" " ]] && COMP_WORDS+=("") && COMP_CWORD=${{#COMP_WORDS[@]}}-1
        _ppm_completion ppm
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    p = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [w for w in p.stdout.splitlines() if w]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_completion_in_bash(tmp_path: Path) -> None:
    (tmp_path / "ppm.toml").write_text('[project]\nname = "p"\nversion = "0.1.0"\n\n'
                                       '[components.core]\nbuilder = "cargo"\npath = "core"\n\n'
                                       '[components.cmath]\nbuilder = "cc"\npath = "cmath"\n')
    assert complete("ppm ca", tmp_path) == ["cache"]
    assert complete("ppm cache p", tmp_path) == ["prune"]
    assert complete("ppm test c", tmp_path) == ["cmath", "core"]  # component names from ppm.toml
    assert "--junit" in complete("ppm test --j", tmp_path)
    assert complete("ppm run co", tmp_path.parent) == []  # outside a project: nothing, no error


def test_quiet_and_verbose(tmp_path: Path) -> None:
    p = run_ppm("-q", "init", "demo", cwd=tmp_path)
    assert p.stderr == ""
    p = run_ppm("init", "demo2", cwd=tmp_path)
    assert "created demo2" in p.stderr


def test_no_color_and_color_flag(tmp_path: Path) -> None:
    p = run_ppm("cache", "prune", "--max-size", "zz", cwd=tmp_path, env={"NO_COLOR": "1"}, check=False)
    assert p.returncode == 2 and "\x1b[" not in p.stderr
    p = run_ppm("--color", "always", "cache", "prune", "--max-size", "zz", cwd=tmp_path, check=False)
    assert p.returncode == 2 and "\x1b[" in p.stderr and "is not a size" in p.stderr
    p = run_ppm("--color", "always", "cache", "prune", "--max-size", "zz", cwd=tmp_path, check=False,
                env={"NO_COLOR": "1"})
    assert "\x1b[" in p.stderr  # the flag beats the environment
    p = run_ppm("--color", "sometimes", "doctor", cwd=tmp_path, check=False)
    assert p.returncode == 2 and "--color: expected auto, always or never" in p.stderr


def test_help_has_an_example_for_every_command(tmp_path: Path) -> None:
    from ppm.cli.app import app

    def commands(t, prefix):  # type: ignore[no-untyped-def]
        for c in t.registered_commands:
            yield [*prefix, c.name or c.callback.__name__.replace("_", "-")]
        for g in t.registered_groups:
            name = g.name if isinstance(g.name, str) else g.typer_instance.info.name
            yield from commands(g.typer_instance, [*prefix, name])

    for words in commands(app, []):
        p = run_ppm(*words, "--help", cwd=tmp_path, env={"COLUMNS": "80"})
        assert "Example" in p.stdout, words
    top = run_ppm("--help", cwd=tmp_path, env={"COLUMNS": "80"}).stdout
    assert "..." not in top.split("Commands:")[1]
    assert "(cargo test, zig test, C test programs, node --test, pytest)" in " ".join(top.split())
