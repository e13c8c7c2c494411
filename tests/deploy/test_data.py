"""`mrbatch aws financials load` and `mrbatch aws submit` against a deployed environment's
tables and buckets under moto (the access point, which moto lacks, with botocore's
Stubber)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from typer.testing import CliRunner

from mrbatch.aws.deploy.data import load_financials, submit_file
from mrbatch.aws.deploy.plan import Deployment
from mrbatch.cli.app import app
from mrbatch.errors import ConfigError, InputFileError
from mrbatch.routing.dynamodb import DynamoDBRoutingControl, create_routing_table
from mrbatch.state import FINANCIALS, DynamoDBTable, create_dynamodb_table

D = Deployment("demo", "us-east-1", "us-west-2")
EAST, WEST = D.regions
MRAP = f"arn:aws:s3::{DEFAULT_ACCOUNT_ID}:accesspoint/mfzwi23gnjvgw.mrap"
HEADER = "uuid,unitsSold,unitPrice,unitCost,totalRevenue,totalCost,totalProfit\n"
ENV_OPTIONS = ["--env", D.env, "--primary", EAST, "--secondary", WEST]


def _clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto, with the global table's replica and the bucket in each region, and the routing
    table (active region: the primary at epoch 1, as the first control made it)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        for region in D.regions:
            dynamodb = _clients("dynamodb", region)
            create_dynamodb_table(dynamodb, FINANCIALS, table_name="mrbatch-demo-financials")
            s3 = _clients("s3", region)
            config = (
                {}
                if region == EAST
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            s3.create_bucket(Bucket=D.bucket(DEFAULT_ACCOUNT_ID, region), **config)
            s3.put_bucket_versioning(
                Bucket=D.bucket(DEFAULT_ACCOUNT_ID, region),
                VersioningConfiguration={"Status": "Enabled"},
            )
        create_routing_table(_clients("dynamodb", EAST), "mrbatch-demo-routing")
        yield


def _financials(region: str) -> dict[str, dict[str, Any]]:
    table = DynamoDBTable(
        _clients("dynamodb", region), FINANCIALS, table_name="mrbatch-demo-financials"
    )
    return {item["uuid"]: dict(item) for item in table.scan()}


def _rows(path: Path, count: int, *, start: int = 0, units: int = 1) -> Path:
    lines = [f"{start + n},{units},2.5,1.5,2.5,1.5,1.0\n" for n in range(count)]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def _fail_over() -> None:
    routing = DynamoDBRoutingControl(_clients("dynamodb", EAST), "mrbatch-demo-routing", D.regions)
    routing.set_active(WEST, "test", expected_epoch=routing.state().epoch)


# --- financials load --------------------------------------------------------------------


def test_rows_load_in_batches_through_the_active_region_when_the_file_is_valid(
    aws: None, tmp_path: Path
) -> None:
    _fail_over()
    said: list[str] = []
    report = load_financials(
        _clients, D, _rows(tmp_path / "f.csv", 250), said.append, batch_rows=100
    )
    assert (report.table, report.region, report.rows) == ("mrbatch-demo-financials", WEST, 250)
    assert said == ["  100 rows loaded ...", "  200 rows loaded ..."]
    assert len(_financials(WEST)) == 250 and _financials(EAST) == {}
    assert _financials(WEST)["7"]["unitsSold"] == "1"


def test_rows_merge_by_uuid_and_a_rerun_changes_nothing_when_loaded_again(
    aws: None, tmp_path: Path
) -> None:
    load_financials(_clients, D, _rows(tmp_path / "old.csv", 10, units=1), print)
    newer = _rows(tmp_path / "new.csv", 10, start=5, units=9)  # uuids 5-14
    load_financials(_clients, D, newer, print)
    loaded = _financials(EAST)
    assert sorted(loaded, key=int) == [str(n) for n in range(15)]
    assert [loaded[str(n)]["unitsSold"] for n in (0, 4, 5, 14)] == ["1", "1", "9", "9"]
    load_financials(_clients, D, newer, print)
    assert _financials(EAST) == loaded


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (HEADER + "1,1,2,1,2,1,1\n2,1,2,1,2,1,1\n1,5,2,1,2,1,1\n", "uuid 1 appears more than once"),
        ("uuid,units\n1,2\n", "the header must be"),
        ("", "the file is empty"),
    ],
    ids=["duplicate-uuid", "bad-header", "empty"],
)
def test_nothing_loads_when_the_file_is_bad(
    aws: None, tmp_path: Path, content: str, reason: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError, match=reason):
        load_financials(_clients, D, bad, print, batch_rows=1)
    assert _financials(EAST) == {} and _financials(WEST) == {}


def test_cli_loads_the_file_and_says_where_when_asked(aws: None, tmp_path: Path) -> None:
    path = _rows(tmp_path / "f.csv", 3)
    result = CliRunner().invoke(app, ["aws", "financials", "load", str(path), *ENV_OPTIONS])
    assert result.exit_code == 0, result.output
    assert "loaded 3 financial rows" in result.output and "through us-east-1" in result.output
    assert sorted(_financials(EAST)) == ["0", "1", "2"]


# --- submit ------------------------------------------------------------------------------


def _version(region: str, key: str) -> list[str]:
    listed = _clients("s3", region).list_object_versions(
        Bucket=D.bucket(DEFAULT_ACCOUNT_ID, region), Prefix=key
    )
    return [v["VersionId"] for v in listed.get("Versions", [])]


def test_submit_uploads_to_the_active_bucket_when_there_is_no_access_point(
    aws: None, tmp_path: Path
) -> None:
    _fail_over()
    source = tmp_path / "orders.csv"
    source.write_bytes(b"uuid,x\n1,2\n")
    submitted = submit_file(_clients, D, source, print)
    assert (submitted.target, submitted.key) == (
        D.bucket(DEFAULT_ACCOUNT_ID, WEST),
        "input/orders.csv",
    )
    assert _version(WEST, "input/orders.csv") == [submitted.version_id]
    assert _version(EAST, "input/orders.csv") == []
    body = (
        _clients("s3", WEST)
        .get_object(Bucket=submitted.target, Key=submitted.key, VersionId=submitted.version_id)[
            "Body"
        ]
        .read()
    )
    assert body == source.read_bytes()
    assert submitted.file_id == f"input/orders.csv#{submitted.version_id}"


def test_submit_uploads_into_the_named_region_under_the_given_key_when_asked(
    aws: None, tmp_path: Path
) -> None:
    source = tmp_path / "orders.csv"
    source.write_bytes(b"a\n")
    result = CliRunner().invoke(
        app,
        ["aws", "submit", str(source), *ENV_OPTIONS, "--region", WEST, "--key", "input/q1/x.csv"],
    )
    assert result.exit_code == 0, result.output
    [version] = _version(WEST, "input/q1/x.csv")
    assert result.output.splitlines()[-1] == f"input/q1/x.csv#{version}"


@pytest.mark.parametrize("key", ["output/x.csv", "input/x.txt"])
def test_submit_refuses_a_key_nothing_would_process(aws: None, tmp_path: Path, key: str) -> None:
    source = tmp_path / "orders.csv"
    source.write_bytes(b"a\n")
    with pytest.raises(ConfigError, match="not an input key"):
        submit_file(_clients, D, source, print, key=key)
    assert _version(EAST, "") == [] and _version(WEST, "") == []


def test_submit_refuses_a_region_outside_the_environment(aws: None, tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_bytes(b"a\n")
    with pytest.raises(ConfigError, match="eu-west-1"):
        submit_file(_clients, D, source, print, region="eu-west-1")


def test_submit_goes_through_the_access_point_when_the_routing_stack_has_one(
    aws: None, tmp_path: Path
) -> None:
    _clients("cloudformation", EAST).create_stack(
        StackName=D.stack_name("routing"),
        TemplateBody=(
            '{"Resources": {"Handle": {"Type": "AWS::SNS::Topic"}},'
            f' "Outputs": {{"AccessPointArn": {{"Value": "{MRAP}"}}}}}}'
        ),
    )
    s3 = boto3.client("s3", region_name=EAST)  # moto has no access points: stub the put
    stubber = Stubber(s3)
    stubber.add_response(
        "put_object",
        {"VersionId": "v-mrap"},
        {"Bucket": MRAP, "Key": "input/orders.csv", "Body": ANY},
    )

    def clients(service: str, region: str) -> Any:
        return s3 if service == "s3" else _clients(service, region)

    source = tmp_path / "orders.csv"
    source.write_bytes(b"a\n")
    with stubber:
        submitted = submit_file(clients, D, source, print)
    stubber.assert_no_pending_responses()
    assert (submitted.target, submitted.version_id) == (MRAP, "v-mrap")
