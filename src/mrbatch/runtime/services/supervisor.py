"""The supervisor: starts every process of a local stack, watches them, stops them cleanly.

`mrbatch up` runs one `Supervisor`. Each service runs in its own OS process
(`python -m mrbatch.runtime.services.child KIND ...`), like the separate regions and services of a
real deployment: killing one region's process leaves the other region running.

Start-up handshake: a child writes `<data_dir>/run/<name>.json` (atomically) with its pid
and the endpoints it bound once it is ready; the supervisor waits for every ready file
with a deadline, then writes `stack.json` describing the whole stack for the other
commands (`status`, `submit`, `down`, ...).

`start` and `restart` wait for readiness (start-up, tests); a running stack restarts a
service with `respawn` and `probe` instead, which never block, so that one service that
cannot come back holds nothing else up (see `mrbatch.runtime.services.supervision`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from mrbatch.atomic import atomic_write_json
from mrbatch.errors import MrBatchError
from mrbatch.runtime.config import StackConfig, stack_file
from mrbatch.runtime.files import read_json

__all__ = ["ChildSpec", "Probe", "Readiness", "StackStartError", "Supervisor", "wait_until"]


class StackStartError(MrBatchError):
    """A process of the stack did not start."""


@dataclass(frozen=True)
class ChildSpec:
    """One service process: `name` is unique in the stack, `args` go to the child module."""

    name: str
    kind: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


class Readiness(Enum):
    """Where a (re)started child is in its start-up."""

    STARTING = "starting"
    READY = "ready"
    EXITED = "exited"


@dataclass(frozen=True)
class Probe:
    """One look at a child: its readiness, its ready record once READY, its exit code once
    EXITED."""

    readiness: Readiness
    record: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = ""
) -> None:
    """Poll `condition` until it holds; raise TimeoutError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or 'condition'}")
        time.sleep(interval)


class Supervisor:
    """Starts, watches and stops the child processes of one stack."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.children: list[ChildSpec] = []
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.run_dir = config.run_dir
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.run_dir.glob("*.json"):
            stale.unlink()

    def start(self, specs: list[ChildSpec], *, timeout: float = 60.0) -> dict[str, dict[str, Any]]:
        """Start these children (in parallel) and wait until each reports ready; returns
        their ready records. Call it once per phase when later children need the endpoints
        of earlier ones. On failure, stops everything started and raises StackStartError."""
        try:
            for spec in specs:
                self.children.append(spec)
                self.processes[spec.name] = self._spawn(spec)
            return {spec.name: self._await_ready(spec, timeout) for spec in specs}
        except BaseException:
            self.stop()
            raise

    def _spawn(self, spec: ChildSpec) -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable,
            "-m",
            "mrbatch.runtime.services.child",
            spec.kind,
            "--data-dir",
            str(self.config.data_dir),
            "--name",
            spec.name,
            *spec.args,
        ]
        env = {**os.environ, **spec.env}
        with (self.run_dir / f"{spec.name}.log").open("ab") as log:  # the child keeps its copy
            # its own process group: killing a service kills its workers too, as losing a
            # region would
            return subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def _await_ready(self, spec: ChildSpec, timeout: float) -> dict[str, Any]:
        ready_file = self.run_dir / f"{spec.name}.json"
        process = self.processes[spec.name]

        def ready_or_dead() -> bool:
            return ready_file.exists() or process.poll() is not None

        try:
            wait_until(ready_or_dead, timeout=timeout, what=f"{spec.name} to start")
        except TimeoutError as exc:
            raise StackStartError(f"{exc}; see {self.run_dir / spec.name}.log") from exc
        if process.poll() is not None:
            raise StackStartError(
                f"{spec.name} exited with code {process.returncode} during start-up;"
                f" see {self.run_dir / spec.name}.log"
            )
        return read_json(ready_file)

    def dead_children(self) -> list[str]:
        """Names of children that have exited."""
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def restart(self, name: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Stop (if running) and start one child again; wait for and return its ready
        record (tests and tools; a running stack uses `respawn` and `probe`)."""
        self.respawn(name)
        spec = next(s for s in self.children if s.name == name)
        return self._await_ready(spec, timeout)

    def respawn(self, name: str, *, grace: float = 10.0) -> int:
        """Stop `name` if it still runs, then start it again without waiting for it to be
        ready; returns the new pid. Follow up with `probe`."""
        spec = next(s for s in self.children if s.name == name)
        self._terminate([name], grace=grace)
        (self.run_dir / f"{name}.json").unlink(missing_ok=True)
        self.processes[name] = self._spawn(spec)
        return self.processes[name].pid

    def probe(self, name: str) -> Probe:
        """Whether child `name` is ready, still starting, or has exited (never blocks)."""
        process = self.processes[name]
        code = process.poll()
        if code is not None:
            return Probe(Readiness.EXITED, exit_code=code)
        ready_file = self.run_dir / f"{name}.json"
        if not ready_file.exists():
            return Probe(Readiness.STARTING)
        return Probe(Readiness.READY, record=read_json(ready_file))

    def last_log_line(self, name: str, *, limit: int = 300) -> str:
        """The last non-empty line of the child's log (its error, when it failed), at most
        `limit` characters; empty when there is none."""
        try:
            with (self.run_dir / f"{name}.log").open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 4096))
                lines = log.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        tail = next((line.strip() for line in reversed(lines) if line.strip()), "")
        return tail[-limit:]

    def kill(self, name: str) -> None:
        """SIGKILL one child and its workers (chaos and tests): no clean-up runs in them."""
        _kill_group(self.processes[name])

    def pids(self) -> dict[str, int]:
        """The current pid of every child (each leads its own process group)."""
        return {name: process.pid for name, process in self.processes.items()}

    def stop(self, *, grace: float = 15.0) -> None:
        """Stop every child: SIGTERM, wait up to `grace` seconds, then SIGKILL."""
        self._terminate(list(self.processes), grace=grace)

    def _terminate(self, names: list[str], *, grace: float) -> None:
        running = [self.processes[n] for n in names if n in self.processes]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(process)
            else:
                _kill_group(process)  # workers a service left behind, if any


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group led by `process` and reap the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def write_stack_file(config: StackConfig, record: dict[str, Any]) -> None:
    """Publish the running stack's description for the other commands."""
    atomic_write_json(config.stack_file, record)


def read_stack_file(data_dir: Path) -> dict[str, Any]:
    """The running stack's description; raises MrBatchError when no stack runs there."""
    path = stack_file(data_dir)
    if not path.exists():
        raise MrBatchError(f"no stack is running in {data_dir} (start one with `mrbatch up`)")
    return read_json(path)


def dumps(record: Mapping[str, Any]) -> str:
    """JSON for people and scripts: sorted keys, indented."""
    return json.dumps(record, indent=2, sort_keys=True)
