"""Stacks applied with change sets, idempotently, and buckets emptied, under moto; the
dry run renders every template without credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mrbatch.aws.deploy.orchestrate import empty_bucket, render_plan
from mrbatch.aws.deploy.plan import Deployment, deploy_plan, destroy_plan
from mrbatch.aws.deploy.stacks import apply_stack, delete_stack, stack_status
from mrbatch.aws.deploy.templates import render

DEPLOYMENT = Deployment("demo", "us-east-1", "us-west-2", ses_identity="ops@example.com")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield


def test_plan_applies_stacks_in_dependency_order() -> None:
    labels = [s.label for s in deploy_plan(DEPLOYMENT)]
    assert labels == [
        "artifacts (us-east-1)", "artifacts (us-west-2)", "global (us-east-1)",
        "storage (us-east-1)", "storage (us-west-2)",
        "replication (us-east-1)", "replication (us-west-2)", "routing (us-east-1)",
        "regional (us-east-1)", "regional (us-west-2)",
        "operations (us-east-1)", "operations (us-west-2)",
    ]  # fmt: skip


def test_destroy_deletes_each_stack_once_in_reverse_order() -> None:
    order = [(s.template, s.region) for s in destroy_plan(DEPLOYMENT)]
    assert order[:2] == [("chaos", "us-west-2"), ("chaos", "us-east-1")]
    assert order[-1] == ("artifacts", "us-east-1")
    assert len(order) == len(set(order))
    assert order.index(("routing", "us-east-1")) < order.index(("storage", "us-east-1"))


def test_dry_run_renders_every_template_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    plan = render_plan(DEPLOYMENT, tmp_path / "out", chaos=True)
    written = sorted(p.stem for p in (tmp_path / "out").iterdir())
    assert written == sorted({s.template for s in plan})
    assert "chaos" in written
    assert json.loads((tmp_path / "out" / "regional.json").read_text())["Resources"]


def test_apply_creates_then_reports_up_to_date_when_nothing_changed(aws: None) -> None:
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    said: list[str] = []
    body = {"TemplateBody": render("artifacts").text()}
    assert apply_stack(cfn, "mrbatch-demo-artifacts", body, {"EnvName": "demo"}, said.append)
    assert stack_status(cfn, "mrbatch-demo-artifacts") == "CREATE_COMPLETE"
    assert not apply_stack(cfn, "mrbatch-demo-artifacts", body, {"EnvName": "demo"}, said.append)
    assert said[-1] == "mrbatch-demo-artifacts: up to date"
    calls = [c for c in said if "create" in c or "up to date" in c]
    assert calls == [
        "mrbatch-demo-artifacts: create ...",
        "mrbatch-demo-artifacts: create complete",
        "mrbatch-demo-artifacts: up to date",
    ]


def test_delete_is_a_no_op_when_the_stack_is_gone(aws: None) -> None:
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    said: list[str] = []
    body = {"TemplateBody": render("artifacts").text()}
    apply_stack(cfn, "mrbatch-demo-artifacts", body, {"EnvName": "demo"}, said.append)
    assert delete_stack(cfn, "mrbatch-demo-artifacts", said.append)
    assert stack_status(cfn, "mrbatch-demo-artifacts") is None
    assert not delete_stack(cfn, "mrbatch-demo-artifacts", said.append)


def test_empty_bucket_removes_every_version_and_delete_marker(aws: None) -> None:
    s3: Any = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="mrbatch-test")
    s3.put_bucket_versioning(Bucket="mrbatch-test", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket="mrbatch-test", Key="input/a.csv", Body=body)
    s3.delete_object(Bucket="mrbatch-test", Key="input/a.csv")  # a delete marker
    assert empty_bucket(s3, "mrbatch-test", lambda _: None) == 3
    s3.delete_bucket(Bucket="mrbatch-test")  # refused unless truly empty
    assert empty_bucket(s3, "mrbatch-test", lambda _: None) == 0
