"""The replicator process: objects and table items, both directions, in one loop.

Each round, for each direction (A -> B and B -> A), an `ObjectReplicator` copies the new
object versions of A's bucket into B's (S3 Cross-Region Replication) and one
`TableReplicator` per replicated table forwards A's own item writes to B (DynamoDB Global
Tables). The batch state and error tables are replicated; the financial-data table is not,
since each region loads its own. Rounds are `--interval` seconds apart (default 0.1 s),
back to back while there is a backlog.

Partitions, for drills and tests: while `<data_dir>/run/replication.paused` exists no
direction replicates; while `<data_dir>/run/replication.<A>-to-<B>.paused` exists the
direction A -> B does not. Writes keep landing in each region and queue up; removing the
flag lets them flow again (see `pause_replication`).

Status: `<data_dir>/run/replication.json` (written atomically after every round that moved
something, when a pause flag changes, and at least once a second) holds, per direction,
the object metrics S3 Replication Time Control reports (operations and bytes pending,
oldest pending age, replicated, late against the SLA, worst latency, and the latency
percentiles p50 / p90 / p99 over the last `LATENCY_SAMPLE` objects replicated) and, per
table, the items pending, the age of the oldest (the lag right now) and the lag of the
last and worst applied write; `read_replication_status` reads it.

Errors: a round that fails is logged with its traceback, counted in the status
(`errors`, `unexpected_errors` for those that are not infrastructure errors,
`last_error`) and retried next round; the cursors only move past work that was
done, so nothing is lost. A run of failing rounds backs off up to a few seconds.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mrbatch.atomic import atomic_write_json
from mrbatch.errors import ConfigError, MrBatchError
from mrbatch.metrics.quantiles import LATENCY_SAMPLE, percentiles
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.faults import FaultFile
from mrbatch.runtime.files import read_json
from mrbatch.runtime.replication.changefeed import ChangeFeed
from mrbatch.runtime.replication.objects import ObjectReplicator
from mrbatch.runtime.replication.tables import SqliteCursorStore, TableReplicator
from mrbatch.runtime.wiring import open_region_store, open_tables

__all__ = [
    "Direction",
    "ReplicatorLoop",
    "open_directions",
    "pause_file",
    "pause_replication",
    "read_replication_status",
    "replication_paused",
    "serve",
    "status_file",
]

log = logging.getLogger(__name__)

# The status file is rewritten at least this often even when nothing moves, so its
# `updated_at` tells readers the replicator is alive.
STATUS_EVERY_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 5.0


def status_file(config: StackConfig) -> Path:
    """Where the replicator publishes its status."""
    return config.replication_status_file


def pause_file(config: StackConfig, direction: tuple[str, str] | None = None) -> Path:
    """The flag file that pauses every direction (`None`) or one `(source, destination)`."""
    run = config.run_dir
    if direction is None:
        return run / "replication.paused"
    source, destination = direction
    config.check_region(source)
    if config.peer_of(source) != destination:
        raise MrBatchError(f"no replication direction {source} -> {destination}")
    return run / f"replication.{source}-to-{destination}.paused"


def pause_replication(
    config: StackConfig, paused: bool, *, direction: tuple[str, str] | None = None
) -> None:
    """Hold replication back (a partition) or let it flow again, for every direction or
    for one `(source, destination)`. Takes effect at the replicator's next round.

    Example:
        >>> import tempfile, pathlib
        >>> config = StackConfig(data_dir=pathlib.Path(tempfile.mkdtemp()))
        >>> pause_replication(config, True, direction=("us-east-1", "us-west-2"))
        >>> replication_paused(config, ("us-east-1", "us-west-2"))
        True
        >>> pause_replication(config, False, direction=("us-east-1", "us-west-2"))
        >>> replication_paused(config, ("us-east-1", "us-west-2"))
        False
    """
    flag = pause_file(config, direction)
    if paused:
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
    else:
        flag.unlink(missing_ok=True)


def replication_paused(config: StackConfig, direction: tuple[str, str]) -> bool:
    """Whether `(source, destination)` is paused, by the global or its own flag."""
    return pause_file(config).exists() or pause_file(config, direction).exists()


def read_replication_status(config: StackConfig) -> dict[str, Any]:
    """The replicator's last published status; `{}` when no replicator has written one
    yet. `updated_at` (epoch seconds) tells how fresh it is; `directions` is keyed
    `"<source>-><destination>"`."""
    path = status_file(config)
    if not path.exists():
        return {}
    return read_json(path)


@dataclass
class Direction:
    """Everything that replicates from `source` to `destination`."""

    source: str
    destination: str
    objects: ObjectReplicator
    tables: list[TableReplicator]
    feed: ChangeFeed | None = None  # the source's feed, for latency percentiles

    @property
    def key(self) -> str:
        return f"{self.source}->{self.destination}"

    def run_once(self) -> int:
        """One round; returns how many objects and items were applied."""
        moved = self.objects.run_once()
        for table in self.tables:
            moved += table.run_once()
        return moved

    def status(self, paused: bool) -> dict[str, Any]:
        """This direction's metrics; a part that cannot be read reports `{"error": ...}`
        instead, so one broken table does not hide the rest."""
        return {
            "source": self.source,
            "destination": self.destination,
            "paused": paused,
            "objects": {**_metrics(self.objects.status), **self._latency()},
            "tables": {t.table: _metrics(t.status) for t in self.tables},
        }

    def _latency(self) -> dict[str, Any]:
        """`latency_p50_seconds` (p90, p99) over the newest LATENCY_SAMPLE deliveries;
        nothing before the first object replicates, `latency_error` if unreadable."""
        if self.feed is None:
            return {}
        try:
            sample = self.feed.recent_latencies(self.objects.consumer, limit=LATENCY_SAMPLE)
        except (MrBatchError, sqlite3.Error, OSError) as exc:
            return {"latency_error": f"{type(exc).__name__}: {exc}"}
        return {f"latency_{name}_seconds": value for name, value in percentiles(sample).items()}


def _metrics(read: Callable[[], Any]) -> dict[str, Any]:
    """A status dataclass as a dict, without the names the surrounding record gives."""
    try:
        record: dict[str, Any] = asdict(read())
    except (MrBatchError, sqlite3.Error, OSError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {k: v for k, v in record.items() if k not in ("table", "source", "destination")}


def _delay(config: StackConfig, faults: FaultFile) -> float:
    """How long a change waits before it replicates: the configured delay, or the longer
    one a chaos experiment sets (`mrbatch chaos replication --delay`)."""
    return max(config.replication_delay_seconds, faults.read().replication_delay_seconds)


@contextmanager
def open_directions(config: StackConfig) -> Iterator[list[Direction]]:
    """Both directions of the stack, with their stores, tables and cursor files open."""
    with ExitStack() as stack:
        tables = {r: open_tables(config, r) for r in config.regions}
        for region_tables in tables.values():
            stack.callback(region_tables.close)
        directions = []
        for source in config.regions:
            destination = config.peer_of(source)
            cursors = SqliteCursorStore(config.region_dir(source) / "table-replication.db")
            stack.callback(cursors.close)
            store = open_region_store(config, source)
            objects = ObjectReplicator(
                source=source,
                destination=destination,
                source_store=store,
                source_feed=store.feed,
                dest_store=open_region_store(config, destination),
                delay_seconds=functools.partial(_delay, config, FaultFile(config.faults_file)),
                sla_seconds=config.replication_sla_seconds,
            )
            src, dst = tables[source], tables[destination]
            replicated = [
                TableReplicator(s, d, source_region=source, cursor_store=cursors)
                for s, d in (
                    (src.batch_state, dst.batch_state),
                    (src.errors, dst.errors),
                    (src.financials, dst.financials),  # a global table, as in the AWS sample
                )
            ]
            directions.append(Direction(source, destination, objects, replicated, store.feed))
        yield directions


@dataclass
class ReplicatorLoop:
    """The rounds of the replicator process, and the status it publishes."""

    config: StackConfig
    directions: list[Direction]
    clock: Callable[[], float] = time.time
    rounds: int = 0
    errors: int = 0
    unexpected_errors: int = 0  # the part of `errors` that were not infrastructure errors
    consecutive_errors: int = 0
    last_error: str | None = None
    _paused: dict[str, bool] = field(default_factory=dict, init=False)
    _published_at: float = field(default=float("-inf"), init=False)

    def round(self) -> int:
        """Run every unpaused direction once; publish the status when due. Returns how
        many objects and items moved (0 when every direction is paused)."""
        paused = self.paused_now()
        moved, errors_before = 0, self.errors
        for direction in self.directions:
            if not paused[direction.key]:
                moved += self._run(direction)
        self.consecutive_errors = self.consecutive_errors + 1 if self.errors > errors_before else 0
        self.rounds += 1
        self._publish_if_due(paused, changed=moved > 0 or paused != self._paused)
        return moved

    def paused_now(self) -> dict[str, bool]:
        """Which directions are paused by a flag file, right now."""
        return {
            d.key: replication_paused(self.config, (d.source, d.destination))
            for d in self.directions
        }

    def _run(self, direction: Direction) -> int:
        try:
            return direction.run_once()
        except (MrBatchError, sqlite3.Error, OSError) as exc:
            self._failed(direction, exc, "infrastructure error")
            return 0
        except Exception as exc:  # a bug: keep replicating the rest, but loudly
            self.unexpected_errors += 1
            self._failed(direction, exc, "unexpected error")
            return 0

    def _failed(self, direction: Direction, exc: Exception, kind: str) -> None:
        log.exception("%s replicating %s; retrying next round", kind, direction.key)
        self.errors += 1
        self.last_error = f"{kind} replicating {direction.key}: {type(exc).__name__}: {exc}"

    def backoff(self, interval: float) -> float:
        """Seconds to wait before the next idle round: the interval, doubling with each
        consecutive failure up to MAX_BACKOFF_SECONDS."""
        if self.consecutive_errors:
            return min(MAX_BACKOFF_SECONDS, interval * 2.0 ** min(self.consecutive_errors, 6))
        return interval

    def _publish_if_due(self, paused: dict[str, bool], *, changed: bool) -> None:
        if changed or self.clock() - self._published_at >= STATUS_EVERY_SECONDS:
            self.publish_safely(paused)

    def publish_safely(self, paused: dict[str, bool]) -> None:
        """`publish`, logging and counting a failure instead of raising it: the status
        file is a report, replication must not stop because it cannot be written."""
        try:
            self.publish(paused)
        except (MrBatchError, sqlite3.Error, OSError):
            log.exception("cannot publish the replication status; retrying next round")
            self.errors += 1

    def publish(self, paused: dict[str, bool]) -> None:
        """Write the status file now, each direction `paused` as given (as `paused_now`
        read the flags)."""
        now = self.clock()
        record = {
            "pid": os.getpid(),
            "updated_at": now,
            "rounds": self.rounds,
            "errors": self.errors,
            "unexpected_errors": self.unexpected_errors,
            "last_error": self.last_error,
            "directions": {d.key: d.status(paused[d.key]) for d in self.directions},
        }
        atomic_write_json(status_file(self.config), record)
        self._paused = dict(paused)
        self._published_at = now


def _parse(args: list[str]) -> argparse.Namespace:
    # No help texts: `-h` never reaches this parser (the child process's own takes it);
    # the module docstring says what --interval is.
    parser = argparse.ArgumentParser(prog="replicator")
    parser.add_argument("--interval", type=float, default=0.1)
    return parser.parse_args(args)


def serve(
    config: StackConfig,
    args: list[str],
    ready: Callable[[dict[str, Any]], None],
    stop: threading.Event,
) -> None:
    """Replicate objects and table items both ways until `stop` is set."""
    options = _parse(args)
    if not options.interval > 0:
        raise ConfigError(f"replicator --interval must be positive, got {options.interval}")
    with open_directions(config) as directions:
        loop = ReplicatorLoop(config, directions)
        loop.publish(loop.paused_now())
        ready({"status_file": str(status_file(config))})
        log.info("replicating %s", ", ".join(d.key for d in directions))
        wait = 0.0
        while not stop.wait(wait):
            moved = loop.round()
            wait = 0.0 if moved else loop.backoff(options.interval)
        loop.publish_safely(loop.paused_now())
