"""`mrbatch torture`: randomized fault schedules on fresh stacks, judged by the checker.

In the spirit of Jepsen: per schedule a fresh stack (a random replication delay, chunk size,
and auto-failover on or off), N uploads, and 2-5 faults in the first seconds drawn from
the kinds that the contract says it survives (SIGKILL of a region's group or main process,
of the replicator, gateway or mail sink, of both regions; failover, failback; the same key
uploaded again with the same or new bytes; a replication partition; a chaos block; a pause;
duplicate events). Then everything is healed, the stack must quiesce before a deadline (a
miss is a hang) and `mrbatch verify` must find nothing.

Everything random comes from one seed per schedule (`schedule_seeds`), so a failing
schedule is replayed with `--replay SEED`; the timing of the processes is of course not
replayed, which is why a schedule prints its faults as a `--chaos` string too.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mrbatch.pipeline.sample import write_sample_files
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.audit import verify_stack
from mrbatch.runtime.operations.loadtest import wait_quiet
from mrbatch.runtime.operations.schedule import Fault, FaultRunner, format_schedule
from mrbatch.runtime.operations.stackinfo import access_point_client
from mrbatch.runtime.services.supervision import running_stack_record, serve_stack

__all__ = [
    "Plan",
    "ScheduleResult",
    "plan_schedule",
    "run_schedule",
    "run_torture",
    "schedule_seeds",
]

_TARGETS = ("objects", "tables", "api", "smtp", "all")


@dataclass(frozen=True)
class Plan:
    """Everything one schedule does, drawn from its seed."""

    seed: int
    replication_delay: float
    chunk_size: int
    auto_failover: bool
    files: int
    rows: int
    faults: tuple[Fault, ...]

    def describe(self) -> str:
        mode = "auto-failover" if self.auto_failover else "manual"
        return (
            f"seed {self.seed}: {self.files} files x {self.rows} rows, chunk {self.chunk_size},"
            f" replication delay {self.replication_delay:g} s, {mode};"
            f" chaos {format_schedule(list(self.faults))}"
        )


@dataclass
class ScheduleResult:
    """How one schedule ended: `quiet_seconds` None is a hang."""

    plan: Plan
    quiet_seconds: float | None
    violations: list[dict[str, str]] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    rejected_uploads: int = 0

    @property
    def passed(self) -> bool:
        return self.quiet_seconds is not None and not self.violations

    def as_dict(self) -> dict[str, Any]:
        plan = asdict(self.plan)
        plan["faults"] = format_schedule(list(self.plan.faults))
        return {**asdict(self), "plan": plan, "passed": self.passed}


def schedule_seeds(seed: int, count: int) -> list[int]:
    """The seeds of the `count` schedules of run `seed` (each one replayable alone)."""
    rng = random.Random(seed)
    return [rng.randrange(2**31) for _ in range(count)]


def _fault(rng: random.Random, regions: tuple[str, str], files: int) -> Fault:
    at = round(rng.uniform(0.0, 4.0), 1)
    region = rng.choice(regions)
    seconds = str(rng.choice((1, 2, 3, 4)))
    choices: list[tuple[str, tuple[str, ...]]] = [
        ("kill", (region,)),
        ("kill", (region, "main")),
        ("kill", (rng.choice(("replicator", "gateway", "mail")),)),
        ("kill-regions", ()),
        ("failover", ()),
        ("failback", ()),
        ("reupload", (str(rng.randrange(files)),)),
        ("reupload", (str(rng.randrange(files)), "new")),
        ("replication-stop", (seconds,)),
        ("block", (region, rng.choice(_TARGETS), seconds)),
        ("pause", (rng.choice((region, "replicator")), seconds)),
        ("duplicate-events", (region,)),
    ]
    action, args = rng.choice(choices)
    return Fault(at, action, args)


def plan_schedule(
    seed: int, *, files: int, rows: int, regions: tuple[str, str] = ("us-east-1", "us-west-2")
) -> Plan:
    """The schedule of `seed`: the same plan every time."""
    rng = random.Random(seed)
    faults = sorted((_fault(rng, regions, files) for _ in range(rng.randint(2, 5))),
                    key=lambda f: f.at)  # fmt: skip
    return Plan(
        seed=seed,
        replication_delay=rng.choice((0.0, 0.2, 0.5, 1.0)),
        chunk_size=rng.choice((25, 50, 100, 250)),
        auto_failover=rng.random() < 0.5,
        files=files,
        rows=rows,
        faults=tuple(faults),
    )


@contextlib.contextmanager
def _serving(config: StackConfig, auto_failover: bool) -> Iterator[None]:
    """A supervised stack (restarts, auto-failover) on a thread, as `mrbatch up` runs it."""
    stop, up = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            serve_stack(config, stop, failure_threshold=2 if auto_failover else None,
                        on_up=lambda _: up.set())  # fmt: skip
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
            up.set()

    thread = threading.Thread(target=serve, name=f"stack-{config.data_dir.name}", daemon=True)
    thread.start()
    up.wait(180)
    try:
        if errors or not up.is_set():
            raise RuntimeError(f"the stack did not start: {errors[0] if errors else 'timeout'}")
        yield
    finally:
        stop.set()
        thread.join(120)


def _services_running(config: StackConfig) -> bool:
    record = running_stack_record(config.data_dir) or {}
    services = record.get("services") or {}
    return bool(services) and all(s.get("state") == "running" for s in services.values())


def run_schedule(
    plan: Plan, scratch: Path, *, deadline: float = 180.0, say: Callable[[str], None] = print
) -> ScheduleResult:
    """Run `plan` on a fresh stack in `scratch` and judge it."""
    source, financials = write_sample_files(scratch / "sample", "torture", plan.rows, 5, 0.05)
    data = source.read_bytes()
    header, *lines = data.decode().splitlines(keepends=True)
    new_data = (header + "".join(reversed(lines))).encode()
    config = StackConfig(
        data_dir=scratch / "stack",
        chunk_size=plan.chunk_size,
        replication_delay_seconds=plan.replication_delay,
        extra={"financials": str(financials)},
    )
    rejected = 0
    with _serving(config, plan.auto_failover):
        config = StackConfig.load(config.data_dir)
        client = access_point_client(config)

        def upload(index: int, body: bytes) -> None:
            nonlocal rejected
            try:
                client.put_object(Bucket=config.bucket_alias, Key=f"input/t{index}.csv", Body=body)
            except Exception:  # not accepted (e.g. the gateway was killed): no promise made
                rejected += 1

        def reupload(index: int, new: bool) -> None:
            upload(index, new_data if new else data)

        runner = FaultRunner(config, list(plan.faults), reupload=reupload)
        runner.start()
        for index in range(plan.files):
            upload(index, data)
        runner.join(timeout=60)
        runner.heal()
        started = time.monotonic()
        quiet = wait_quiet(config, timeout=deadline)
        ready = quiet is not None and _wait(lambda: _services_running(config), 60)
        quiet_seconds = time.monotonic() - started if ready else None
        violations = (
            [v.as_dict() for v in verify_stack(config)] if quiet_seconds is not None else []
        )
    result = ScheduleResult(plan, quiet_seconds, violations, runner.outcomes, rejected)
    say(_summary(result))
    return result


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.2)
    return True


def _summary(result: ScheduleResult) -> str:
    if result.quiet_seconds is None:
        verdict = "HANG (no quiescence before the deadline)"
    elif result.violations:
        found = "; ".join(f"{v['kind']} {v['file_id']}: {v['detail']}" for v in result.violations)
        verdict = f"FAIL {found}"
    else:
        verdict = f"ok (quiet after {result.quiet_seconds:.1f} s)"
    return f"{verdict} | {result.plan.describe()} | replay: --replay {result.plan.seed}"


def run_torture(
    seed: int,
    schedules: int,
    *,
    files: int = 5,
    rows: int = 100,
    replay: int | None = None,
    deadline: float = 180.0,
    say: Callable[[str], None] = print,
) -> list[ScheduleResult]:
    """Run `schedules` schedules of run `seed` (or the one schedule `replay`)."""
    seeds = [replay] if replay is not None else schedule_seeds(seed, schedules)
    results = []
    for schedule_seed in seeds:
        plan = plan_schedule(schedule_seed, files=files, rows=rows)
        with tempfile.TemporaryDirectory(prefix=f"mrbatch-torture-{schedule_seed}-") as scratch:
            results.append(run_schedule(plan, Path(scratch), deadline=deadline, say=say))
    return results
