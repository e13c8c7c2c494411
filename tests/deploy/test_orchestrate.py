"""Stacks applied with change sets, idempotently, and buckets emptied, under moto; the
dry run renders every template without credentials."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mrbatch.aws.deploy.orchestrate import deploy, empty_bucket, render_plan
from mrbatch.aws.deploy.plan import Deployment, deploy_plan, destroy_plan
from mrbatch.aws.deploy.stacks import StackError, apply_stack, delete_stack, stack_status
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


def _build(folder: Path) -> Path:
    folder.mkdir()
    for name in ("code", "layer"):
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
            archive.writestr("mrbatch/__init__.py", "")
    return folder


class Recorder:
    """moto's clients, with every CreateChangeSet's stack, region and parameters noted."""

    def __init__(self) -> None:
        self.change_sets: list[tuple[str, str, dict[str, str]]] = []

    def __call__(self, service: str, region: str) -> Any:
        made = boto3.client(service, region_name=region)  # type: ignore[call-overload]
        if service == "cloudformation":

            def note(params: dict[str, Any], **_: Any) -> None:
                given = {p["ParameterKey"]: p["ParameterValue"] for p in params["Parameters"]}
                self.change_sets.append((params["StackName"], region, given))

            made.meta.events.register("before-parameter-build.cloudformation.CreateChangeSet", note)
        return made


@pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
def test_deploy_applies_what_moto_can_create_in_order_and_changes_nothing_when_rerun(
    aws: None, tmp_path: Path
) -> None:
    """moto's CloudFormation creates the stacks up to the access point (it has no
    AWS::S3::MultiRegionAccessPoint, so the routing stack has no output and the regional
    stacks cannot be given its ARN): the plan runs in order that far, the missing output is
    named, and a second run changes nothing; in particular it never applies the storage
    stack without its replica region, which would take the buckets' replication off."""
    build = _build(tmp_path / "build")
    labels = [s.label for s in deploy_plan(DEPLOYMENT)][:8]
    clients = Recorder()
    runs: list[list[str]] = []
    for _ in range(2):
        said: list[str] = []
        clients.change_sets.clear()
        with pytest.raises(
            StackError, match=r"mrbatch-demo-routing \(us-east-1\) has no output AccessPointArn"
        ):
            deploy(DEPLOYMENT, clients, build, said.append)
        assert [line[1:].split("]")[0] for line in said if line.startswith("[")] == labels
        runs.append(said)
    assert all(
        "ReplicaRegion" in given
        for stack, _, given in clients.change_sets
        if stack == "mrbatch-demo-storage"
    ), clients.change_sets
    # moto keeps a stack's creation parameters after an update, so a stack updated once
    # (the replication pass) looks changed on every run; every other stack is up to date
    updated = [line for line in runs[1] if line.endswith(("create ...", "update ..."))]
    assert updated == ["mrbatch-demo-storage: update ..."] * 2
    assert sum(line.endswith(": up to date") for line in runs[1]) == 4
