"""An action: one unit of work the engine caches and schedules. Pure, immutable data.

Commands and environment may hold placeholders that the executor fills in when it runs the
action, so that keys never contain absolute paths:

  {out}         the fresh directory the action must write its declared outputs into
  {work}        a scratch directory, empty at the start, discarded afterwards
  {project}     the project root
  {src}         the component's source directory
  {state}       a persistent directory for the toolchain's incremental state (cargo's target
                dir, for one); it survives between runs but never feeds the key
  {dep:NAME}    the staged outputs of a needed component NAME (or of action "comp:act")
  {tool:NAME}   the executable of toolchain NAME

A command whose first word starts with "@" is run by the executor itself, not as a process:
  ["@copy", SRC, DST]   copy a file (DST's parent directories are created)
  ["@mkdir", DIR]
  ["@write", FILE, TEXT]        write TEXT (placeholders expanded) to FILE
  ["@write", FILE, TEXT, MODE]  ... and chmod it to octal MODE (a wrapper script a tool runs)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Action:
    """Frozen, and its sequences are stored as tuples: an action's key is computed from it, so
    nothing may change it between planning and running (use dataclasses.replace to derive one).
    Mappings are copied at construction, so a builder's later edits to its own dicts cannot leak in."""

    component: str
    name: str
    commands: Sequence[Sequence[str]]
    outputs: Sequence[str]  # paths relative to {out}
    inputs: Sequence[str] = ()  # project-relative files, sorted
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = "{src}"
    needs: Sequence[str] = ()  # action ids or component names
    tools: Sequence[str] = ()  # toolchain names whose identity feeds the key
    settings: Mapping[str, Any] = field(default_factory=dict)  # component settings that feed the key
    description: str = ""
    # Directories (globbed at plan time) whose listing feeds the key: adding a file there reruns.
    scanned_dirs: Sequence[str] = ()

    def __post_init__(self) -> None:
        put = object.__setattr__  # the one place a frozen instance is written: normalising its fields
        put(self, "commands", tuple(tuple(c) for c in self.commands))
        for name in ("outputs", "inputs", "needs", "tools", "scanned_dirs"):
            put(self, name, tuple(getattr(self, name)))
        put(self, "env", dict(self.env))
        put(self, "settings", dict(self.settings))

    @property
    def id(self) -> str:
        return f"{self.component}:{self.name}"

    def label(self) -> str:
        return self.description or self.id
