"""An action: one unit of work the engine caches and schedules. Pure data.

Commands and environment may hold placeholders that the engine fills in when it runs the
action, so that keys never contain absolute paths:

  {out}         the fresh directory the action must write its declared outputs into
  {work}        a scratch directory, empty at the start, discarded afterwards
  {project}     the project root
  {src}         the component's source directory
  {state}       a persistent directory for the toolchain's incremental state (cargo's target
                dir, for one); it survives between runs but never feeds the key
  {dep:NAME}    the staged outputs of a needed component NAME (or of action "comp:act")
  {tool:NAME}   the executable of toolchain NAME

A command whose first word starts with "@" is run by the engine itself, not as a process:
  ["@copy", SRC, DST]   copy a file (DST's parent directories are created)
  ["@mkdir", DIR]
  ["@write", FILE, TEXT]        write TEXT (placeholders expanded) to FILE
  ["@write", FILE, TEXT, MODE]  ... and chmod it to octal MODE (a wrapper script a tool runs)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Action:
    component: str
    name: str
    commands: list[list[str]]
    outputs: list[str]  # paths relative to {out}
    inputs: list[str] = field(default_factory=list)  # project-relative files, sorted
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "{src}"
    needs: list[str] = field(default_factory=list)  # action ids or component names
    tools: list[str] = field(default_factory=list)  # toolchain names whose identity feeds the key
    settings: dict[str, Any] = field(default_factory=dict)  # component settings that feed the key
    description: str = ""
    # Directories (globbed at plan time) whose listing feeds the key: adding a file there reruns.
    scanned_dirs: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.component}:{self.name}"

    def label(self) -> str:
        return self.description or self.id
