"""Putting data into a deployed environment: the financial table and input files.

`load_financials` is `mrbatch financials load` for AWS: the file is checked whole first with
the same rules (`CsvFinancialSource`: header, one row per uuid, values), so a bad file
loads nothing; its rows are then written into the financial global table in batches
(BatchWriteItem, 25 puts a request) through one region's replica, the active one unless
told otherwise, and the global table carries them to the other region. Rows merge by uuid:
a uuid already there takes the file's values, uuids the file does not name are kept, so
re-running the same file changes nothing.

`submit_file` uploads an input through the Multi-Region Access Point, which routes it to
the active region's bucket, or straight into one region's bucket when asked (or when the
environment has no access point). Either way the file is one object version under
`input/`, and the bucket's event starts its work.

    report = load_financials(clients, d, Path("financials.csv"), print)
    submitted = submit_file(clients, d, Path("orders.csv"), print)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from mrbatch.aws.deploy.actions import current_epoch
from mrbatch.aws.deploy.plan import Deployment
from mrbatch.aws.deploy.stacks import stack_outputs
from mrbatch.enrichment.api import read_financial_csv
from mrbatch.errors import ConfigError, InputFileError
from mrbatch.handlers import naming
from mrbatch.pipeline import CsvFinancialSource
from mrbatch.state import FINANCIALS, DynamoDBTable

__all__ = [
    "BATCH_ROWS",
    "LoadReport",
    "Submitted",
    "load_financials",
    "submit_file",
    "upload_target",
]

Clients = Callable[[str, str], Any]
Progress = Callable[[str], None]
BATCH_ROWS = 5000
"""Rows read before a batch is written: memory stays one batch, progress once a batch."""
_SINGLE_PUT_LIMIT = 5 * 1024**3  # S3's limit for one PutObject


@dataclass(frozen=True)
class LoadReport:
    """What a load did: `rows` written into `table` through `region`'s replica."""

    table: str
    region: str
    rows: int
    seconds: float


@dataclass(frozen=True)
class Submitted:
    """An uploaded input: where it went, and the file id its work goes by."""

    target: str
    key: str
    version_id: str

    @property
    def file_id(self) -> str:
        return naming.file_id(self.key, self.version_id)


def load_financials(
    clients: Clients,
    d: Deployment,
    path: Path,
    progress: Progress,
    *,
    region: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> LoadReport:
    """Check `path` whole, then merge its rows into the environment's financial table
    through `region`'s replica (default: the active region). InputFileError, and nothing
    written, for a file that cannot be used."""
    started = time.monotonic()
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    CsvFinancialSource.from_path(path)  # every row checked before the first write
    region = region or current_epoch(clients("dynamodb", d.primary), d)[0]
    name = f"mrbatch-{d.env}-financials"
    table = DynamoDBTable(clients("dynamodb", region), FINANCIALS, table_name=name)
    written, pending = 0, []
    for record in read_financial_csv(path):  # streamed: memory stays one batch
        pending.append(dict(record))
        if len(pending) == batch_rows:
            table.put_many(pending)
            written, pending = written + len(pending), []
            progress(f"  {written:,} rows loaded ...")
    table.put_many(pending)
    written += len(pending)
    return LoadReport(name, region, written, round(time.monotonic() - started, 3))


def upload_target(clients: Clients, d: Deployment, region: str | None) -> tuple[str, str]:
    """(bucket or access point ARN, region of the client to use): `region`'s bucket when
    one is named; otherwise the access point when the routing stack has one, else the
    active region's bucket."""
    if region is None:
        arn = _access_point(clients, d)
        if arn:
            return arn, d.primary  # an MRAP request is signed SigV4A for every region
        region = current_epoch(clients("dynamodb", d.primary), d)[0]
    if region not in d.regions:
        raise ConfigError(f"--region {region}: this environment is in {' and '.join(d.regions)}")
    account = str(clients("sts", region).get_caller_identity()["Account"])
    return d.bucket(account, region), region


def submit_file(
    clients: Clients,
    d: Deployment,
    path: Path,
    progress: Progress,
    *,
    key: str | None = None,
    region: str | None = None,
) -> Submitted:
    """Upload `path` as `key` (default `input/<file name>`), through the access point or
    into `region`'s bucket (see `upload_target`); the object version made."""
    key = key or f"{naming.INPUT_PREFIX}{path.name}"
    if not naming.is_input(key):
        raise ConfigError(
            f"{key}: not an input key (inputs are {naming.INPUT_PREFIX}*"
            f"{'|'.join(naming.DEFAULT_INPUT_SUFFIXES)}), nothing would process it"
        )
    size = _size(path)
    target, client_region = upload_target(clients, d, region)
    progress(f"uploading {path} ({size:,} bytes) to {target}/{key} ...")
    with path.open("rb") as body:
        try:
            put = clients("s3", client_region).put_object(Bucket=target, Key=key, Body=body)
        except ClientError as exc:
            raise ConfigError(f"{target}/{key}: the upload was refused: {exc}") from exc
    submitted = Submitted(target, key, str(put["VersionId"]))
    progress(f"uploaded: {submitted.file_id}")
    return submitted


def _size(path: Path) -> int:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputFileError(str(path), f"cannot be read: {exc.strerror or exc}") from exc
    if size > _SINGLE_PUT_LIMIT:
        raise InputFileError(str(path), "larger than 5 GiB, S3's limit for one upload")
    return size


def _access_point(clients: Clients, d: Deployment) -> str | None:
    """The routing stack's access point ARN, None when the stack or its output is absent."""
    try:
        outputs = stack_outputs(clients("cloudformation", d.primary), d.stack_name("routing"))
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return outputs.get("AccessPointArn") or None
