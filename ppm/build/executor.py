"""The executor seam: something that runs one action.

The local executor runs its commands as processes on this machine; the remote one
(ppm.remote.executor, REAPI Execute) sends it to a server, whose worker of the action's platform
runs it. The engine picks an executor per action, so a build can mix them.

An executor runs; it does not cache, verify or place outputs: the engine does that, once,
above both seams. A remote executor's outputs stay remote (Execution.out_dir is None): the
engine fetches them through the store only when something here needs them.
"""

from __future__ import annotations

from typing import Protocol

from ppm.build.plan import PlannedAction
from ppm.build.results import Execution
from ppm.build.store import ActionRef


class ExecutorUnavailable(Exception):
    """The executor cannot be reached and the user allowed building here instead
    (--remote-fallback local): the engine runs the action, and those after it, locally."""


class Executor(Protocol):
    def execute(self, pa: PlannedAction, ref: ActionRef) -> Execution:
        """Run the action once. A command that exits non-zero is reported in the Execution;
        an action that cannot be started at all (a missing tool, a bad placeholder) raises
        ActionFailed; a cancelled build raises Cancelled; ExecutorUnavailable hands the action
        back to the engine to run locally."""
        ...

    def cancel(self) -> None:
        """Stop what is running, from another thread; later calls to execute raise Cancelled."""
        ...
