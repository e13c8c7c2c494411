"""The supervision loop of a running stack (`mrbatch up`), and `mrbatch down`.

One failing service must never take the others down: a region keeps processing while
the gateway cannot get its port back, and the gateway keeps serving while a region is
restarted. So the loop never waits on anything: every tick it looks at each service
(`Supervisor.probe`), restarts the ones that exited, gives a restart `ready_timeout`
seconds to report ready, and after a failed restart tries again later with exponential
backoff. What each service is doing is published in `stack.json`, which `status` shows.

With `--auto-failover`, a `HealthMonitor` watches the active region. A dead active region
is not restarted (it would come back active with its work half done); when the monitor
trips, the failover runbook runs in its own process (`mrbatch.runtime.services.autofailover`) so
that its wait for replication, bounded only by the SLA, never holds up a restart: the
replicator it waits for may be the service that needs one. Once the routing control has
moved, the old region is restarted as the standby.

`stop_running_stack` (`mrbatch down`) asks the supervisor to stop, and after a deadline
SIGKILLs the process group of every service and of the runbook: `down` always ends with
nothing of the stack running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from mrbatch.errors import MrBatchError
from mrbatch.runtime.config import StackConfig, stack_file
from mrbatch.runtime.services.autofailover import RunbookProcess
from mrbatch.runtime.services.health import HealthMonitor
from mrbatch.runtime.services.stack import start_stack
from mrbatch.runtime.services.supervisor import (
    Probe,
    Readiness,
    read_stack_file,
    wait_until,
    write_stack_file,
)
from mrbatch.runtime.wiring import open_routing

__all__ = [
    "RestartPolicy",
    "ServiceState",
    "Supervision",
    "running_stack_record",
    "serve_stack",
    "stop_running_stack",
]

Say = Callable[[str], None]


class Processes(Protocol):
    """What supervision needs from the process manager (`Supervisor` implements it)."""

    def pids(self) -> dict[str, int]:
        """Every service's name and current pid, in start order."""
        ...

    def probe(self, name: str) -> Probe:
        """Ready, starting or exited; never blocks."""
        ...

    def respawn(self, name: str) -> int:
        """Stop `name` if it runs and start it again without waiting; the new pid."""
        ...

    def kill(self, name: str) -> None:
        """SIGKILL `name`'s process group."""
        ...

    def last_log_line(self, name: str) -> str:
        """The last line `name` logged (its error when it failed), or ''."""
        ...

    def stop(self) -> None:
        """Stop every service (SIGTERM, then SIGKILL after a grace period)."""
        ...


class ServiceState(Enum):
    """What a service is doing, as `status` reports it."""

    RUNNING = "running"
    STARTING = "starting"  # (re)started, not ready yet
    FAILING = "failing"  # a restart failed; the next attempt is at `retry_at`
    AWAITING_FAILOVER = "awaiting-failover"  # the dead active region, left to the runbook


@dataclass(frozen=True)
class RestartPolicy:
    """How restarts are paced. A service that crashed after running is restarted at once;
    each failed restart doubles the wait before the next, from `first_delay` up to
    `max_delay` (short: the gateway's port may come back any moment, and emailed links
    need the gateway). A restart that has not reported ready within `ready_timeout`
    seconds failed."""

    first_delay: float = 0.5
    max_delay: float = 10.0
    ready_timeout: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th consecutive failed restart (>= 1)."""
        return float(min(self.max_delay, self.first_delay * 2 ** max(0, failures - 1)))


@dataclass
class ServiceStatus:
    """One service's supervision record. `failures` counts consecutive failed restarts
    and is 0 while the service runs; times are monotonic, `retry_at` in the published
    record is wall-clock time."""

    state: ServiceState = ServiceState.RUNNING
    failures: int = 0
    restarts: int = 0
    last_error: str | None = None
    deadline: float = 0.0
    retry_at: float = 0.0
    retry_at_wall: float | None = None

    def published(self, pid: int) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "pid": pid,
            "failures": self.failures,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "retry_at": self.retry_at_wall if self.state is ServiceState.FAILING else None,
        }


class Supervision:
    """Keeps every service of a started stack running, one tick at a time."""

    def __init__(
        self,
        config: StackConfig,
        supervisor: Processes,
        record: dict[str, Any],
        *,
        monitor: HealthMonitor | None = None,
        policy: RestartPolicy = RestartPolicy(),
        say: Say = lambda _: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.supervisor = supervisor
        self.record = record
        self.monitor = monitor
        self.policy = policy
        self.say = say
        self.clock = clock
        self.services = {name: ServiceStatus() for name in supervisor.pids()}
        self.runbook: RunbookProcess | None = None
        self._routing = open_routing(config)
        self._next_check = 0.0
        self._published = ""
        self.publish()

    def run(self, stop: threading.Event, *, interval: float = 0.2) -> None:
        """Tick every `interval` seconds until `stop` is set."""
        while not stop.wait(interval):
            self.tick()

    def tick(self) -> None:
        """One round: services, health, runbook, then publish what changed. Never waits."""
        now = self.clock()
        active = self._active_region_left_down()
        for name, service in self.services.items():
            try:
                self._supervise(name, service, now, active)
            except (MrBatchError, OSError) as exc:  # e.g. fork failed: this service's problem
                self._failed(name, service, f"cannot restart: {exc}", now)
        self._watch_runbook()
        if self.monitor is not None and self.runbook is None and now >= self._next_check:
            self._next_check = now + 1.0  # the monitor's threshold counts 1-second checks
            self._watch_health()
        self.publish()

    def shutdown(self) -> None:
        """Stop the runbook (if one runs) and every service; withdraw `stack.json`."""
        if self.runbook is not None:
            self.runbook.stop()
        self.supervisor.stop()
        self.config.stack_file.unlink(missing_ok=True)

    # --- services ------------------------------------------------------------------------

    def _active_region_left_down(self) -> str | None:
        """With auto-failover, the active region: if it dies it is not restarted."""
        if self.monitor is None:
            return None
        return self._routing.state().active_region

    def _supervise(self, name: str, service: ServiceStatus, now: float, active: str | None) -> None:
        probe = self.supervisor.probe(name)
        if service.state in (ServiceState.RUNNING, ServiceState.AWAITING_FAILOVER):
            if probe.readiness is Readiness.EXITED:
                self._crashed(name, service, probe.exit_code, now, left_down=name == active)
        elif service.state is ServiceState.STARTING:
            if probe.readiness is Readiness.READY:
                self._ready(name, service, probe.record)
            elif probe.readiness is Readiness.EXITED:
                self._failed(name, service, f"exited with code {probe.exit_code}", now)
            elif now >= service.deadline:
                self.supervisor.kill(name)
                timeout = self.policy.ready_timeout
                self._failed(name, service, f"not ready within {timeout:.0f} s", now)
        elif now >= service.retry_at:
            self._respawn(name, service, now)

    def _crashed(
        self, name: str, service: ServiceStatus, code: int | None, now: float, *, left_down: bool
    ) -> None:
        if left_down:
            if service.state is not ServiceState.AWAITING_FAILOVER:
                self.say(f"warning: {name} (the active region) exited; left for auto-failover")
            service.state = ServiceState.AWAITING_FAILOVER
            return
        service.last_error = f"exited with code {code}"
        self.say(f"warning: {name} exited with code {code}; restarting it")
        self._respawn(name, service, now)

    def _respawn(self, name: str, service: ServiceStatus, now: float) -> None:
        self.supervisor.respawn(name)
        service.state = ServiceState.STARTING
        service.restarts += 1
        service.deadline = now + self.policy.ready_timeout

    def _ready(self, name: str, service: ServiceStatus, ready: dict[str, Any]) -> None:
        if service.failures:
            self.say(f"{name} is back after {service.failures} failed restart(s)")
        service.state, service.failures = ServiceState.RUNNING, 0
        if name in self.record["regions"]:
            region = self.record["regions"][name]
            region.update(pid=ready.get("pid"), enrichment_api=ready.get("enrichment_url"))

    def _failed(self, name: str, service: ServiceStatus, why: str, now: float) -> None:
        service.failures += 1
        tail = self.supervisor.last_log_line(name)
        service.last_error = f"{why}: {tail}" if tail else why
        delay = self.policy.delay(service.failures)
        service.state, service.retry_at = ServiceState.FAILING, now + delay
        service.retry_at_wall = time.time() + delay
        self.say(f"warning: {name} failed to restart ({service.last_error}); retry in {delay:g} s")

    # --- auto-failover ---------------------------------------------------------------------

    def _watch_health(self) -> None:
        assert self.monitor is not None
        failing = self.monitor.observe()
        if failing is None:
            return
        reason = f"auto-failover: {failing.region} failed {self.monitor.threshold} health checks: "
        reason += "; ".join(failing.failures)
        self.say(reason)
        target = self.config.peer_of(failing.region)
        self.runbook = RunbookProcess.start(self.config, target=target, reason=reason)

    def _watch_runbook(self) -> None:
        if self.runbook is None:
            return
        code = self.runbook.poll()
        if code is None:
            return
        outcome = "done" if code == 0 else f"failed (exit code {code}); see {self.runbook.log}"
        self.say(f"auto-failover runbook {outcome}")
        self.runbook = None

    # --- stack.json ------------------------------------------------------------------------

    def publish(self) -> None:
        """Rewrite `stack.json` when pids, service states or the runbook changed."""
        pids = self.supervisor.pids()
        self.record["pids"] = pids
        self.record["services"] = {
            name: service.published(pids[name]) for name, service in self.services.items()
        }
        self.record["runbook"] = None if self.runbook is None else self.runbook.describe()
        shown = json.dumps(self.record, sort_keys=True)
        if shown != self._published:
            write_stack_file(self.config, self.record)
            self._published = shown


def serve_stack(
    config: StackConfig,
    stop: threading.Event,
    *,
    failure_threshold: int | None = None,
    say: Say = lambda _: None,
    on_up: Callable[[dict[str, Any]], None] = lambda _: None,
) -> None:
    """Start the stack, call `on_up` with its description, supervise it until `stop` is
    set (auto-failover when `failure_threshold` is given), then stop everything."""
    monitor = (
        None if failure_threshold is None else HealthMonitor(config, threshold=failure_threshold)
    )
    supervisor, record = start_stack(config)
    supervision = Supervision(config, supervisor, record, monitor=monitor, say=say)
    try:
        on_up(record)
        supervision.run(stop)
    finally:
        say("stopping the stack ...")
        supervision.shutdown()


def running_stack_record(data_dir: Path) -> dict[str, Any] | None:
    """The description of the stack running in `data_dir`, or None when none runs."""
    try:
        record = read_stack_file(data_dir)
        os.kill(int(record["supervisor_pid"]), 0)
    except (MrBatchError, OSError, KeyError, ValueError):
        return None
    return record


def stop_running_stack(data_dir: Path, *, grace: float = 45.0, say: Say = lambda _: None) -> bool:
    """Stop the stack running in `data_dir` and return once none of its processes is left
    (False when no stack ran). The supervisor gets SIGTERM and `grace` seconds; after that
    it and every process group of the stack (services, runbook) get SIGKILL."""
    record = running_stack_record(data_dir)
    if record is None:
        return False
    supervisor = int(record["supervisor_pid"])
    os.kill(supervisor, signal.SIGTERM)
    try:
        wait_until(lambda: not _exists(supervisor), timeout=grace, what="the supervisor")
    except TimeoutError:
        say(f"the supervisor (pid {supervisor}) did not stop within {grace:.0f} s; killing")
        record = running_stack_record(data_dir) or record  # the newest pids
        with contextlib.suppress(ProcessLookupError):
            os.kill(supervisor, signal.SIGKILL)
    groups = _process_groups(record)
    for pid in groups:
        _kill_group_if_same(pid)
    wait_until(lambda: not any(map(_exists, groups)), timeout=10, what="the stack's processes")
    stack_file(data_dir).unlink(missing_ok=True)
    return True


def _process_groups(record: dict[str, Any]) -> list[int]:
    """The pid of each service and of the runbook: each leads its own process group."""
    pids = [int(pid) for pid in record.get("pids", {}).values()]
    runbook = record.get("runbook") or {}
    return pids + ([int(runbook["pid"])] if "pid" in runbook else [])


def _kill_group_if_same(pid: int) -> None:
    """SIGKILL the group `pid` leads, if a process still leads it (a pid freed meanwhile
    and reused by an unrelated process would not lead a group of that id)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)


def _exists(pid: int) -> bool:
    """Whether `pid` is a live process; a zombie (dead, not yet reaped by whoever adopted
    it) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust the signal check
    return stat.rpartition(")")[2].split()[0] != "Z"
