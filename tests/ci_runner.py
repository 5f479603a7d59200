"""Runs a composite action's steps the way a GitHub runner does, for tests (no runner exists here).

`run:` steps execute for real under `bash --noprofile --norc -eo pipefail` (GitHub's bash shell),
with GITHUB_OUTPUT, GITHUB_ENV and GITHUB_STEP_SUMMARY as files, after `${{ }}` expressions are
substituted. Steps that `uses:` another action (actions/cache, actions/upload-artifact) cannot run
without GitHub's services: their `if:` is evaluated and they are recorded with their evaluated
inputs, so a test can say which would have run and with what.

Expressions: the subset ppm's action uses (context references, string literals, ==, !=, &&, ||,
!, parentheses, always(), success(), failure(), startsWith()). Anything else raises, so the
action cannot quietly start depending on an expression this runner would misread.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|,)|(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*))")
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


@dataclass
class UsesStep:
    id: str | None
    uses: str
    with_: dict[str, str]
    ran: bool


@dataclass
class Result:
    outputs: dict[str, str]
    env: dict[str, str]
    summary: str
    steps: dict[str, dict[str, Any]]
    uses: list[UsesStep] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    def uses_of(self, action: str) -> list[UsesStep]:
        return [u for u in self.uses if u.uses.split("@")[0] == action]


class Context:
    def __init__(self, inputs: dict[str, str], github: dict[str, str], runner: dict[str, str]) -> None:
        self.inputs, self.github, self.runner = inputs, github, runner
        self.steps: dict[str, dict[str, Any]] = {}
        self.env: dict[str, str] = {}
        self.failed = False

    def ref(self, name: str) -> Any:
        head, _, rest = name.partition(".")
        root: Any = {"inputs": self.inputs, "github": self.github, "runner": self.runner,
                     "steps": self.steps, "env": self.env}.get(head)
        if root is None:
            raise ValueError(f"expression context {head!r} is not supported by this runner")
        for part in rest.split(".") if rest else []:
            root = root.get(part, "") if isinstance(root, dict) else ""
        return root

    def evaluate(self, expr: str) -> Any:
        py: list[str] = []
        pos = 0
        expr = expr.strip()
        while pos < len(expr):
            m = _TOKEN.match(expr, pos)
            if not m or m.end() == pos:
                raise ValueError(f"cannot parse expression {expr!r} at {expr[pos:]!r}")
            pos = m.end()
            if m.group("str") is not None:
                py.append(repr(m.group("str")[1:-1].replace("''", "'")))
            elif (op := m.group("op")) is not None:
                py.append({"&&": " and ", "||": " or ", "!": " not "}.get(op, op))
            else:
                name = m.group("name")
                if expr[pos:].lstrip().startswith("("):
                    if name not in ("always", "success", "failure", "startsWith"):
                        raise ValueError(f"function {name}() is not supported by this runner")
                    py.append(f"_{name}")
                elif name in ("true", "false"):
                    py.append("True" if name == "true" else "False")
                else:
                    py.append(f"_ref({name!r})")
        funcs = {"_ref": self.ref, "_always": lambda: True, "_success": lambda: not self.failed,
                 "_failure": lambda: self.failed,
                 "_startsWith": lambda a, b: str(a).lower().startswith(str(b).lower())}
        return eval("".join(py), {"__builtins__": {}}, funcs)  # only the names above exist

    def substitute(self, text: str) -> str:
        return _EXPR.sub(lambda m: _text(self.evaluate(m.group(1))), str(text))

    def condition(self, cond: Any) -> bool:
        if cond is None:
            return not self.failed
        text = str(cond).strip()
        m = _EXPR.fullmatch(text)
        value = self.evaluate(m.group(1) if m else text)
        # GitHub adds success() unless the condition calls a status function itself.
        if not re.search(r"\b(always|failure|success|cancelled)\(", text):
            return bool(value) and not self.failed
        return bool(value)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def _read_kv(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV syntax: NAME=value lines and NAME<<DELIM heredocs."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body: list[str] = []
            i += 1
            while lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


def run_action(action_yml: Path, inputs: dict[str, str], *, workspace: Path, temp: Path, event_name: str,
               extra_env: dict[str, str] | None = None, timeout: float = 600) -> Result:
    spec = yaml.safe_load(action_yml.read_text())
    assert spec["runs"]["using"] == "composite", "only composite actions run here"
    declared = spec.get("inputs", {})
    unknown = set(inputs) - set(declared)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    values = {k: str(inputs.get(k, (v or {}).get("default", ""))) for k, v in declared.items()}
    ctx = Context(values, {"event_name": event_name, "action_path": str(action_yml.parent), "sha": "0" * 40,
                           "workspace": str(workspace)},
                  {"temp": str(temp), "os": "Linux", "arch": "X64"})
    temp.mkdir(parents=True, exist_ok=True)
    summary = temp / "step_summary.md"
    env_file = temp / "github_env"
    summary.touch()
    env_file.touch()
    base_env = {**os.environ, **(extra_env or {}), "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event_name,
                "GITHUB_WORKSPACE": str(workspace), "GITHUB_SHA": "0" * 40, "GITHUB_ACTION_PATH": str(action_yml.parent),
                "RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
                "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ENV": str(env_file)}
    res = Result({}, {}, "", ctx.steps)
    for n, step in enumerate(spec["runs"]["steps"]):
        sid = step.get("id")
        should = ctx.condition(step.get("if"))
        if "uses" in step:
            with_ = {k: ctx.substitute(v) for k, v in (step.get("with") or {}).items()}
            res.uses.append(UsesStep(sid, step["uses"], with_, should))
            if sid:
                ctx.steps[sid] = {"outputs": {}, "outcome": "success" if should else "skipped"}
            continue
        if not should:
            if sid:
                ctx.steps[sid] = {"outputs": {}, "outcome": "skipped"}
            continue
        assert step.get("shell") == "bash", f"step {sid or n}: composite run steps must name their shell"
        out_file = temp / f"output-{n}"
        out_file.touch()
        script = temp / f"step-{n}.sh"
        script.write_text(ctx.substitute(step["run"]))
        env = {**base_env, **ctx.env, "GITHUB_OUTPUT": str(out_file)}
        env.update({k: ctx.substitute(v) for k, v in (step.get("env") or {}).items()})
        cwd = workspace / ctx.substitute(step.get("working-directory", "."))
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=timeout)
        res.logs.append(f"--- step {sid or step.get('name')}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
        if p.returncode != 0:
            ctx.failed = True
        if sid:
            ctx.steps[sid] = {"outputs": _read_kv(out_file), "outcome": "success" if p.returncode == 0 else "failure"}
        ctx.env.update(_read_kv(env_file))
    res.outputs = {k: ctx.substitute(v.get("value", "")) for k, v in (spec.get("outputs") or {}).items()}
    res.env = dict(ctx.env)
    res.summary = summary.read_text()
    res.failed = ctx.failed  # type: ignore[attr-defined]
    return res
