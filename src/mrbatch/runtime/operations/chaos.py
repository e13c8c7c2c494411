"""Chaos experiments on a running stack (`mrbatch chaos`), each one recorded.

What an experiment does, and how the stack comes back from it:

- `block`: a region cannot reach its object store, tables, enrichment API or mail server
  for a while (`mrbatch.runtime.faults`); the block ends by itself at its end time, or
  at once with `heal` (as stopping an FIS experiment does).
- `kill`: SIGKILL of a service's process group (or of its main process only); the
  supervisor of `mrbatch up` restarts it (with `--auto-failover`, a dead active region is
  failed over instead).
- `pause`: SIGSTOP of a region's process group, SIGCONT after the duration.
- `replication stop`: no direction replicates for the duration; `replication delay`: every
  change waits that long before it replicates, until set back to 0.
- `duplicate-events`: the region's input objects are announced again on its change feed,
  as S3 may deliver an event twice.

Every experiment is a row of `chaos.db` (kind, target, detail, start, planned and actual
end), which the dashboard shows next to the runbook executions.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from mrbatch.errors import ConfigError, MrBatchError
from mrbatch.handlers import naming
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.faults import MODES, TARGETS, Block, Faults, read_faults, write_faults
from mrbatch.runtime.operations.experiments import ChaosLog, Experiment
from mrbatch.runtime.services.replicator import pause_replication
from mrbatch.runtime.services.supervision import running_stack_record
from mrbatch.runtime.wiring import open_region_store

__all__ = [
    "block",
    "duplicate_events",
    "heal",
    "kill",
    "pause",
    "replication_delay",
    "replication_stop",
    "resume",
    "resume_replication",
    "service_names",
    "stop_replication",
    "suspend",
]


@contextlib.contextmanager
def _log(config: StackConfig) -> Iterator[ChaosLog]:
    log = ChaosLog(config)
    try:
        yield log
    finally:
        log.close()


@contextlib.contextmanager
def _faults_locked(config: StackConfig) -> Iterator[Faults]:
    """The faults file, locked against another `mrbatch chaos` changing it meanwhile."""
    config.run_dir.mkdir(parents=True, exist_ok=True)
    lock_path = config.faults_file.with_suffix(".lock")
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield read_faults(config.faults_file)


def _check_duration(duration: float) -> float:
    if not duration > 0:
        raise ConfigError(f"the duration must be positive, got {duration:g}")
    return duration


def block(
    config: StackConfig, region: str, target: str, duration: float, *, mode: str = "error"
) -> Experiment:
    """Cut `region` off `target` (one of `TARGETS`, or `all`) for `duration` seconds."""
    config.check_region(region)
    targets = TARGETS if target == "all" else (target,)
    if target != "all" and target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; one of {', '.join(TARGETS)}, all")
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
    _check_duration(duration)
    with _log(config) as log:
        experiment = log.begin("block", region, f"{target} ({mode})", duration=duration)
    assert experiment.ends_at is not None
    with _faults_locked(config) as faults:
        now = time.time()
        kept = tuple(b for b in faults.blocks if b.until > now)  # expired ones go
        added = tuple(Block(region, t, mode, experiment.ends_at, experiment.id) for t in targets)
        write_faults(config.faults_file, replace(faults, blocks=kept + added))
    return experiment


def heal(config: StackConfig, experiment_id: int | None = None) -> list[Experiment]:
    """End the blocks in force now, before their end time: every one, or only those of
    experiment `experiment_id` (a ConfigError when it has none in force). Returns the
    experiments ended. The regions see it at their next port call (the faults file's
    mtime changes); a caller already hanging in `timeout` mode still waits its turn."""
    with _faults_locked(config) as faults:
        now = time.time()
        live = [b for b in faults.blocks if b.until > now]
        ending = {b.experiment for b in live if experiment_id in (None, b.experiment)}
        if experiment_id is not None and not ending:
            raise ConfigError(f"no block of experiment {experiment_id} is in force")
        kept = tuple(b for b in live if b.experiment not in ending)
        write_faults(config.faults_file, replace(faults, blocks=kept))
    with _log(config) as log:
        return log.end_ids(ending) if ending else []


def replication_delay(config: StackConfig, delay: float) -> Experiment:
    """From now on every change waits `delay` seconds before it replicates (0: back to the
    stack's configured delay)."""
    if delay < 0:
        raise ConfigError("the replication delay cannot be negative")
    with _log(config) as log:
        log.end_open("replication-delay")
        experiment = log.begin("replication-delay", "replicator", f"{delay:g} s")
        if delay == 0:
            experiment = log.end(experiment)
    with _faults_locked(config) as faults:
        write_faults(config.faults_file, replace(faults, replication_delay_seconds=delay))
    return experiment


def service_names(config: StackConfig) -> list[str]:
    """The services `kill` and `pause` can name."""
    return [*config.regions, "replicator", "gateway", "mail"]


def _service_pid(config: StackConfig, name: str) -> int:
    if name not in service_names(config):
        raise ConfigError(f"unknown service {name!r}; one of {', '.join(service_names(config))}")
    record = running_stack_record(config.data_dir)
    if record is None:
        raise MrBatchError(f"no stack is running in {config.data_dir}")
    return int(record["pids"][name])


def kill(config: StackConfig, name: str, *, main_only: bool = False) -> Experiment:
    """SIGKILL service `name`: its process group (its workers too), or its main process
    only (its workers are left orphaned, as a crash of the leader alone would)."""
    pid = _service_pid(config, name)
    with _log(config) as log:
        scope = "main process" if main_only else "process group"
        experiment = log.begin("kill", name, f"SIGKILL {scope} {pid}", duration=0)
    with contextlib.suppress(ProcessLookupError):
        if main_only:
            os.kill(pid, signal.SIGKILL)
        else:
            os.killpg(pid, signal.SIGKILL)
    return experiment


def suspend(config: StackConfig, name: str, duration: float) -> tuple[Experiment, int]:
    """SIGSTOP service `name`'s process group; returns the experiment and the group to
    `resume`. Prefer `pause`, which resumes it whatever happens."""
    _check_duration(duration)
    pid = _service_pid(config, name)
    with _log(config) as log:
        experiment = log.begin("pause", name, f"SIGSTOP process group {pid}", duration=duration)
    os.killpg(pid, signal.SIGSTOP)
    return experiment, pid


def resume(config: StackConfig, experiment: Experiment, group: int) -> Experiment:
    """SIGCONT the group `suspend` stopped, and record the end of the experiment."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGCONT)
    with _log(config) as log:
        return log.end(experiment)


def pause(
    config: StackConfig,
    name: str,
    duration: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Experiment:
    """Freeze service `name` for `duration` seconds, then let it go on (blocks meanwhile;
    the service resumes even when this is interrupted)."""
    experiment, group = suspend(config, name, duration)
    try:
        sleep(duration)
    finally:
        experiment = resume(config, experiment, group)
    return experiment


def stop_replication(config: StackConfig, duration: float) -> Experiment:
    """Partition the regions: nothing replicates until `resume_replication`."""
    _check_duration(duration)
    with _log(config) as log:
        experiment = log.begin("replication-stop", "replicator", "partition", duration=duration)
    pause_replication(config, True)
    return experiment


def resume_replication(config: StackConfig, experiment: Experiment) -> Experiment:
    """End a partition that `stop_replication` started."""
    pause_replication(config, False)
    with _log(config) as log:
        return log.end(experiment)


def replication_stop(
    config: StackConfig, duration: float, *, sleep: Callable[[float], None] = time.sleep
) -> Experiment:
    """Partition the regions for `duration` seconds (blocks meanwhile; replication flows
    again even when this is interrupted)."""
    experiment = stop_replication(config, duration)
    try:
        sleep(duration)
    finally:
        experiment = resume_replication(config, experiment)
    return experiment


def duplicate_events(config: StackConfig, region: str, *, limit: int = 100) -> Experiment:
    """Announce the latest version of each of the region's (up to `limit`) input objects
    again on its change feed: its trigger and the replicator see each event twice."""
    config.check_region(region)
    store = open_region_store(config, region)
    announced = 0
    for info in store.list(naming.INPUT_PREFIX):
        if announced >= limit:
            break
        if not naming.is_input(info.key, config.input_suffixes):
            continue
        current = store.head(info.key)
        store.feed.commit(store.feed.begin(info.key), current)
        announced += 1
    with _log(config) as log:
        detail = f"{announced} input event(s) announced again"
        return log.end(log.begin("duplicate-events", region, detail, duration=0))
