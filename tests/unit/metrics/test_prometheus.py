"""The /metrics exposition parses with prometheus_client's own parser, values intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from mrbatch.metrics.executions import execution_series, execution_stats
from mrbatch.metrics.prometheus import Counter, Gauge, Snapshot, exposition, metric_name

ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:"


def _samples(snapshot: Snapshot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = exposition(snapshot).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _workflows_db(path: Path, rows: list[tuple[str, str, str, float, float | None]]) -> Path:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE executions (arn TEXT PRIMARY KEY, name TEXT, state_machine_arn TEXT,"
            " status TEXT, input TEXT, start_date REAL, stop_date REAL)"
        )
        db.executemany(
            "INSERT INTO executions VALUES (?, ?, ?, ?, '{}', ?, ?)",
            [(f"{machine}:{name}", name, ARN + machine, *rest) for name, machine, *rest in rows],
        )
    return path


def test_metric_names_follow_prometheus_snake_case() -> None:
    assert metric_name("InputFilesSplit") == "mrbatch_input_files_split"
    assert metric_name("ReplicationOperationsOverSLA") == "mrbatch_replication_operations_over_sla"


def test_counters_parse_back_with_region_and_dimension_labels() -> None:
    snapshot = Snapshot(
        counters=[
            Counter("ProcessedFiles", "us-east-1", {}, 3.0),
            Counter("RegionalFailover", "us-west-2", {"kind": "failover"}, 1.0),
        ]
    )
    samples = _samples(snapshot)
    assert samples[("mrbatch_processed_files_total", (("region", "us-east-1"),))] == 3.0
    key = ("mrbatch_regional_failover_total", (("kind", "failover"), ("region", "us-west-2")))
    assert samples[key] == 1.0


def test_executions_are_counted_by_status_with_a_duration_histogram(tmp_path: Path) -> None:
    db = _workflows_db(
        tmp_path / "workflows.db",
        [
            ("a", "main_orchestrator", "SUCCEEDED", 100.0, 101.5),
            ("b", "main_orchestrator", "FAILED", 100.0, 130.0),
            ("c", "main_orchestrator", "RUNNING", 120.0, None),
            ("d", "chunk_processor", "TIMED_OUT", 100.0, 103.0),
        ],
    )
    samples = _samples(Snapshot(executions={"us-east-1": execution_stats(db)}))
    main = (("region", "us-east-1"), ("state_machine", "main_orchestrator"))
    assert samples[("mrbatch_executions_started_total", main)] == 3
    assert samples[("mrbatch_executions_ended_total", (*main, ("status", "failed")))] == 1
    chunk = (("region", "us-east-1"), ("state_machine", "chunk_processor"))
    assert samples[("mrbatch_executions_ended_total", (*chunk, ("status", "timed_out")))] == 1
    assert samples[("mrbatch_execution_duration_seconds_count", main)] == 2
    assert samples[("mrbatch_execution_duration_seconds_sum", main)] == 31.5
    le_2_5 = tuple(sorted((*main, ("le", "2.5"))))
    assert samples[("mrbatch_execution_duration_seconds_bucket", le_2_5)] == 1


def test_execution_series_buckets_starts_and_ends_separately(tmp_path: Path) -> None:
    db = _workflows_db(
        tmp_path / "workflows.db",
        [
            ("a", "main_orchestrator", "SUCCEEDED", 100.0, 111.0),
            ("b", "main_orchestrator", "ABORTED", 105.0, 112.0),
        ],
    )
    series = execution_series(db, since=100, until=200, step=10)
    assert series[("main_orchestrator", "ExecutionsStarted")] == [(100.0, 2.0)]
    assert series[("main_orchestrator", "ExecutionsSucceeded")] == [(110.0, 1.0)]
    assert series[("main_orchestrator", "ExecutionsAborted")] == [(110.0, 1.0)]


def test_no_workflow_database_means_no_executions(tmp_path: Path) -> None:
    assert execution_stats(tmp_path / "absent.db").started == {}
    assert execution_series(tmp_path / "absent.db", since=0, until=1, step=1) == {}


def test_gauges_carry_their_own_labels() -> None:
    gauge = Gauge("ActiveRegion", "1 for the active region", {"region": "us-west-2"}, 1.0)
    samples = _samples(Snapshot(gauges=[gauge]))
    assert samples[("mrbatch_active_region", (("region", "us-west-2"),))] == 1.0
