"""Deploy into a real account, run a file, fail over with a file in flight, fail back,
destroy (docs/aws-deploy.md). Needs MRBATCH_AWS_E2E=1, credentials, `make lambda-build`,
and MRBATCH_E2E_SENDER (an SES-verified address)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from mrbatch.aws.deploy.actions import current_epoch, run_runbook
from mrbatch.aws.deploy.data import load_financials, submit_file
from mrbatch.aws.deploy.orchestrate import deploy, destroy
from mrbatch.aws.deploy.plan import Deployment

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "aws-sample" / "testfile.csv"
FINANCIALS = SAMPLE.with_name("testfile_financial_data.csv")
D = Deployment(
    os.environ.get("MRBATCH_E2E_ENV", "e2e"),
    os.environ.get("MRBATCH_E2E_PRIMARY", "us-east-1"),
    os.environ.get("MRBATCH_E2E_SECONDARY", "us-west-2"),
    ses_identity=os.environ.get("MRBATCH_E2E_SENDER", ""),
)


def _clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def _until(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(10)


@pytest.fixture(scope="module")
def environment() -> Iterator[Deployment]:
    deploy(D, _clients, ROOT / "build" / "lambda", print)
    try:
        # what `mrbatch aws financials load` does, before any file is sent
        loaded = load_financials(_clients, D, FINANCIALS, print)
        assert loaded.rows == len(FINANCIALS.read_bytes().splitlines()) - 1
        yield D
    finally:
        destroy(D, _clients, print)


def _status(region: str, file_id: str) -> str | None:
    item = (
        _clients("dynamodb", region)
        .get_item(TableName=f"mrbatch-{D.env}-batch-state", Key={"file_id": {"S": file_id}})
        .get("Item")
    )
    return None if item is None else str(item["status"]["S"])


def _upload(region: str, key: str) -> str:
    """What `mrbatch aws submit --region` does: the file id of the version made."""
    return submit_file(_clients, D, SAMPLE, print, key=key, region=region).file_id


def test_file_completes_then_fails_over_and_back(environment: Deployment) -> None:
    first = _upload(D.primary, "input/e2e-first.csv")
    _until("the first file", lambda: _status(D.primary, first) == "COMPLETED", 900)
    in_flight = _upload(D.primary, "input/e2e-in-flight.csv")
    _, epoch = current_epoch(_clients("dynamodb", D.secondary), D)
    run_runbook(_clients("ssm", D.secondary), D, D.secondary, epoch, "e2e failover", print)
    assert current_epoch(_clients("dynamodb", D.secondary), D) == (D.secondary, epoch + 1)
    _until("the in-flight file", lambda: _status(D.secondary, in_flight) == "COMPLETED", 1800)
    run_runbook(_clients("ssm", D.primary), D, D.primary, epoch + 1, "e2e failback", print)
    assert current_epoch(_clients("dynamodb", D.primary), D) == (D.primary, epoch + 2)
    # through the access point (`mrbatch aws submit` without --region): routed to the
    # primary again, whose dial the failback set to 100
    routed = submit_file(_clients, D, SAMPLE, print, key="input/e2e-routed.csv").file_id
    _until("the routed file", lambda: _status(D.primary, routed) == "COMPLETED", 900)
