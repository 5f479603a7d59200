"""The executor seam: something that runs one action.

The local executor runs its commands as processes on this machine; a remote one (REAPI
Execute) will send it to a server. The engine picks an executor per action, so a build can
mix them (an action for another platform goes remote while the rest run here).

An executor runs; it does not cache, verify or place outputs: the engine does that, once,
above both seams.
"""

from __future__ import annotations

from typing import Protocol

from ppm.build.plan import PlannedAction
from ppm.build.results import Execution


class Executor(Protocol):
    def execute(self, pa: PlannedAction, key: str) -> Execution:
        """Run the action once. A command that exits non-zero is reported in the Execution;
        an action that cannot be started at all (a missing tool, a bad placeholder) raises
        ActionFailed; a cancelled build raises Cancelled."""
        ...

    def cancel(self) -> None:
        """Stop what is running, from another thread; later calls to execute raise Cancelled."""
        ...
