"""Fault schedules: chaos experiments at given offsets, as text and as a running plan.

A schedule is a comma-separated list of `AT:ACTION[:ARG...]` (AT in seconds from the
start), e.g. `2:kill:us-east-1,4:block:us-east-1:smtp:3,5:replication-stop:4`. It is what
`mrbatch loadtest --chaos` takes and what `mrbatch torture` draws at random, so a failing
torture schedule can be replayed by hand. Actions:

    kill:SERVICE[:main]           SIGKILL a service's group (or its main process only)
    kill-regions                  SIGKILL both regions
    pause:SERVICE:SECONDS         SIGSTOP, SIGCONT after SECONDS
    block:REGION:TARGET:SECONDS[:timeout]
    replication-stop:SECONDS      a partition
    replication-delay:SECONDS     every change waits that long (until healed)
    duplicate-events:REGION       re-announce the region's inputs
    failover / failback           the runbook (its wait for replication bounded)
    reupload:INDEX[:new]          upload input INDEX again, same bytes (or new bytes)

`FaultRunner` starts each action at its time on a thread of its own and `heal` ends
whatever is still in force (resumes paused services, lifts partitions and blocks, clears
the replication delay), so a schedule always ends with a stack that can quiesce.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mrbatch.errors import ConfigError, MrBatchError
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.faults import Faults, write_faults
from mrbatch.runtime.operations import chaos
from mrbatch.runtime.operations.runbook import run_runbook
from mrbatch.runtime.services.replicator import pause_replication

__all__ = ["Fault", "FaultRunner", "format_schedule", "parse_schedule"]

_ARITY = {
    "kill": (1, 2),
    "kill-regions": (0, 0),
    "pause": (2, 2),
    "block": (3, 4),
    "replication-stop": (1, 1),
    "replication-delay": (1, 1),
    "duplicate-events": (1, 1),
    "failover": (0, 0),
    "failback": (0, 0),
    "reupload": (1, 2),
}
RUNBOOK_MAX_WAIT = 10.0
"""How long a scheduled failover waits for replication (a partition may be in force)."""


@dataclass(frozen=True)
class Fault:
    """One action of a schedule, `at` seconds after the start."""

    at: float
    action: str
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ":".join([f"{self.at:g}", self.action, *self.args])


def parse_schedule(text: str) -> list[Fault]:
    """`AT:ACTION[:ARG...],...` -> faults in time order; ConfigError on a bad entry."""
    faults = []
    for entry in filter(None, (e.strip() for e in text.split(","))):
        at, _, rest = entry.partition(":")
        action, *args = rest.split(":") if rest else [""]
        low, high = _ARITY.get(action, (-1, -1))
        try:
            offset = float(at)
        except ValueError:
            offset = -1.0
        if offset < 0 or not low <= len(args) <= high:
            actions = ", ".join(_ARITY)
            raise ConfigError(f"bad chaos schedule entry {entry!r}: AT:ACTION[:ARG...] ({actions})")
        faults.append(Fault(offset, action, tuple(args)))
    return sorted(faults, key=lambda f: f.at)


def format_schedule(faults: list[Fault]) -> str:
    return ",".join(str(f) for f in faults)


class FaultRunner:
    """Runs a schedule's faults on a stack, each on its own thread, and heals it after.

    `reupload(index, new_bytes)` is called for `reupload` faults (the caller owns the
    inputs). What each fault did (or why it could not) is kept in `outcomes`.
    """

    def __init__(
        self,
        config: StackConfig,
        faults: list[Fault],
        *,
        reupload: Callable[[int, bool], None] = lambda _i, _n: None,
    ) -> None:
        self.config = config
        self.faults = faults
        self.reupload = reupload
        self.outcomes: list[str] = []
        self._threads: list[threading.Thread] = []
        self._healed = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Schedule every fault from now on (returns at once)."""
        begin = time.monotonic()
        for fault in self.faults:
            thread = threading.Thread(target=self._run, args=(fault, begin), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, fault: Fault, begin: float) -> None:
        if self._healed.wait(max(0.0, begin + fault.at - time.monotonic())):
            return  # healed before its time: never started
        try:
            self._apply(fault)
            outcome = "done"
        except (MrBatchError, OSError, KeyError) as exc:
            outcome = f"not applied: {exc}"
        with self._lock:
            self.outcomes.append(f"{fault}: {outcome}")

    def _apply(self, fault: Fault) -> None:
        config, args = self.config, fault.args
        if fault.action == "kill":
            chaos.kill(config, args[0], main_only=args[1:] == ("main",))
        elif fault.action == "kill-regions":
            for region in config.regions:
                chaos.kill(config, region)
        elif fault.action == "pause":
            experiment, group = chaos.suspend(config, args[0], float(args[1]))
            try:
                self._healed.wait(float(args[1]))
            finally:
                chaos.resume(config, experiment, group)
        elif fault.action == "block":
            mode = args[3] if len(args) > 3 else "error"
            chaos.block(config, args[0], args[1], float(args[2]), mode=mode)
        elif fault.action == "replication-stop":
            experiment = chaos.stop_replication(config, float(args[0]))
            try:
                self._healed.wait(float(args[0]))
            finally:
                chaos.resume_replication(config, experiment)
        elif fault.action == "replication-delay":
            chaos.replication_delay(config, float(args[0]))
        elif fault.action == "duplicate-events":
            chaos.duplicate_events(config, args[0])
        elif fault.action in ("failover", "failback"):
            run_runbook(config, kind=fault.action, target=None, reason=f"schedule: {fault}",
                        max_wait=RUNBOOK_MAX_WAIT)  # fmt: skip
        elif fault.action == "reupload":
            self.reupload(int(args[0]), args[1:] == ("new",))
        else:
            raise ConfigError(f"unknown action {fault.action!r}")

    def join(self, *, timeout: float) -> None:
        """Wait until every fault has started and ended (pauses and partitions included)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def heal(self, *, timeout: float = 60.0) -> None:
        """End every fault: pauses and partitions end now, blocks and the replication delay
        are lifted, and faults not yet started never will; waits for their threads."""
        self._healed.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(OSError):
            write_faults(self.config.faults_file, Faults())
        pause_replication(self.config, False)
