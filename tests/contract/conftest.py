"""Fixtures for the contract suites: every port, parametrised over every implementation.

A contract test takes the port fixture (`object_store`, `table`, ...) and runs once per
backend: in memory, local (directories and SQLite under tmp_path), and the AWS one through
boto3 against moto, in process.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tests.contract.notifiers import (
    SMTP_CREDENTIALS,
    NotifierBackend,
    ses_backend,
    smtp_backend,
)

from mrbatch.metrics.emf import EmfMetrics
from mrbatch.metrics.local import MemoryMetrics, SqliteMetrics
from mrbatch.notify.sink import MailSink
from mrbatch.notify.smtp import SmtpNotifier
from mrbatch.ports import Metrics, ObjectStore, RoutingControl, Table
from mrbatch.routing.dynamodb import DynamoDBRoutingControl, create_routing_table
from mrbatch.routing.local import MemoryRoutingControl, SqliteRoutingControl
from mrbatch.state import (
    DynamoDBTable,
    MemoryTable,
    SqliteDatabase,
    SqliteTable,
    TableSpec,
    create_dynamodb_table,
)
from mrbatch.storage import LocalObjectStore, MemoryObjectStore, S3ObjectStore

# Small pages, so every listing in the suite crosses page boundaries.
PAGE_SIZE = 3


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's in-process AWS, with fake credentials so nothing can reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def _s3_store(bucket: str) -> S3ObjectStore:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return S3ObjectStore(client, bucket)


@pytest.fixture(params=["memory", "local", "s3"])
def object_store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[str], ObjectStore]]:
    """Makes empty buckets of one backend; every bucket made is closed at the end."""
    made: list[Any] = []

    def make(bucket: str) -> ObjectStore:
        store: ObjectStore
        if request.param == "memory":
            store = MemoryObjectStore(bucket)
        elif request.param == "local":
            store = LocalObjectStore(tmp_path / bucket, bucket=bucket)
        else:
            store = _s3_store(bucket)
        made.append(store)
        return store

    if request.param == "s3":
        request.getfixturevalue("aws")
    yield make
    for store in made:
        if hasattr(store, "close"):
            store.close()


@pytest.fixture
def object_store(object_store_factory: Callable[[str], ObjectStore]) -> ObjectStore:
    """One empty bucket."""
    return object_store_factory("bucket-a")


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def table_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[TableSpec], Table]]:
    """Makes empty tables of one backend from a spec."""
    databases: list[SqliteDatabase] = []

    def make(spec: TableSpec) -> Table:
        if request.param == "memory":
            return MemoryTable(spec)
        if request.param == "sqlite":
            db = SqliteDatabase(tmp_path / f"{spec.name}.db")
            databases.append(db)
            return SqliteTable(db, spec, origin="us-east-1", page_size=PAGE_SIZE)
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_dynamodb_table(client, spec)
        return DynamoDBTable(client, spec, page_size=PAGE_SIZE)

    if request.param == "dynamodb":
        request.getfixturevalue("aws")
    yield make
    for db in databases:
        db.close()


REGIONS = ("us-east-1", "us-west-2")


def _routing_controls(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., RoutingControl]]:
    """Makes routing controls of the backend `request.param`; sqlite (dynamodb) ones made
    twice share one file (table)."""
    made: list[SqliteRoutingControl] = []
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
        create_routing_table(boto3.client("dynamodb", region_name="us-east-1"), "routing")

    def make(regions: tuple[str, ...] = REGIONS, **options: Any) -> RoutingControl:
        if request.param == "memory":
            return MemoryRoutingControl(regions, **options)
        if request.param == "dynamodb":
            client = boto3.client("dynamodb", region_name="us-east-1")
            return DynamoDBRoutingControl(client, "routing", regions, **options)
        control = SqliteRoutingControl(tmp_path / "routing.db", regions, **options)
        made.append(control)
        return control

    yield make
    for control in made:
        control.close()


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def routing_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., RoutingControl]]:
    """Makes routing controls of every backend."""
    yield from _routing_controls(request, tmp_path)


@pytest.fixture(params=["memory", "sqlite"])
def atomic_routing_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., RoutingControl]]:
    """Routing controls whose atomicity threads can exercise here. DynamoDB's conditional
    update is atomic, but moto checks a condition and writes without a lock, so a race
    against moto tests moto (see `atomic_batch` in test_contract_table.py); the DynamoDB
    control's compare-and-set is tested with a deterministic interleaving in
    tests/aws/test_routing_dynamodb.py."""
    yield from _routing_controls(request, tmp_path)


@pytest.fixture(params=["memory", "sqlite", "emf"])
def metrics_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Metrics]]:
    """Makes metrics stores of one backend, with an injected clock."""
    made: list[SqliteMetrics] = []

    def make(clock: Callable[[], float]) -> Metrics:
        if request.param == "memory":
            return MemoryMetrics(clock=clock)
        if request.param == "emf":
            return EmfMetrics(io.StringIO(), clock=clock)
        metrics = SqliteMetrics(tmp_path / "metrics.db", clock=clock)
        made.append(metrics)
        return metrics

    yield make
    for metrics in made:
        metrics.close()


@pytest.fixture(params=["smtp", "ses"])
def notifier_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NotifierBackend]:
    """Every `Notifier` that sends real mail: SMTP to a live `MailSink`, SES under moto."""
    if request.param == "ses":
        request.getfixturevalue("aws")
        yield ses_backend()
        return
    made: list[SmtpNotifier] = []
    with MailSink(tmp_path / "mailbox", credentials=SMTP_CREDENTIALS) as sink:
        yield smtp_backend(tmp_path, sink, made)
    for notifier in made:
        notifier.close()


@pytest.fixture(params=["smtp", "ses-memory-ledger"])
def atomic_notifier_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[NotifierBackend]:
    """Notifiers whose ledger threads can race here: SMTP's SQLite ledger, and SES with an
    in-memory ledger (moto's DynamoDB checks conditions without a lock)."""
    if request.param == "ses-memory-ledger":
        request.getfixturevalue("aws")
        yield ses_backend(memory_ledger=True)
        return
    made: list[SmtpNotifier] = []
    with MailSink(tmp_path / "mailbox", credentials=SMTP_CREDENTIALS) as sink:
        yield smtp_backend(tmp_path, sink, made)
    for notifier in made:
        notifier.close()
