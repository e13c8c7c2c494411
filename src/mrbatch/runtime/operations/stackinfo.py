"""What the stack commands do, apart from printing: status, submit, files, mail, links.

These read the stack's state straight from its data directory (routing control, tables,
mail folder) and talk to the access point as any S3 client would (boto3 with SigV4).
`unreachable_service` is the one place that turns a client library's connection failure
into the one line a user needs: which service does not answer, and what to do.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import EndpointConnectionError

from mrbatch.accesspoint import presign_get_url
from mrbatch.errors import ConfigError, MrBatchError
from mrbatch.handlers import naming
from mrbatch.metrics.local import SqliteMetrics
from mrbatch.model import FileStatus
from mrbatch.notify.sink import read_mailbox
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.services.replicator import read_replication_status
from mrbatch.runtime.services.supervisor import read_stack_file
from mrbatch.runtime.wiring import load_credentials, open_routing, open_tables, read_endpoints
from mrbatch.state.db import query_read_only

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "access_point_client",
    "file_rows",
    "mail_messages",
    "presigned_url",
    "stack_status",
    "submit_files",
    "unreachable_service",
]


def _config(data_dir: Path) -> StackConfig:
    return StackConfig.load(data_dir)


def access_point_client(config: StackConfig) -> S3Client:
    """A boto3 S3 client for the stack's access point, signed with its credentials."""
    endpoints = read_endpoints(config)
    credentials = load_credentials(config)
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoints["gateway"],
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        region_name=config.regions[0],
        config=BotoConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )
    return client


def unreachable_service(error: BaseException) -> str | None:
    """One line for a connection failure anywhere in `error`'s chain, None for any other error.

    Every HTTP request the commands make goes to the gateway process (the S3 API, presigned
    links and the routing control API), so a refused or timed-out connection means the
    access point is down: the line names it, its address, and the commands that tell and fix
    it. boto3 and httpx wrap the socket error differently; both are recognised here.
    """
    import httpx  # lazily: only a failing command pays for it

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        url: str | None = None
        if isinstance(current, EndpointConnectionError):
            url = str(current.kwargs.get("endpoint_url", ""))
        elif isinstance(current, httpx.ConnectError | httpx.ConnectTimeout):
            url = str(current.request.url)
        if url is not None:
            return (
                f"the access point at {_origin(url)} does not answer: is the stack up?"
                " See `mrbatch status`; start it with `mrbatch up --detach`"
            )
        current = current.__cause__ or current.__context__
    return None


def _origin(url: str) -> str:
    """`scheme://host:port` of `url`: the address, without the bucket, key or signature."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def stack_status(data_dir: Path) -> dict[str, Any]:
    """Routing state, replication metrics, files per status per region, endpoints."""
    config = _config(data_dir)
    state = open_routing(config).state()
    replication = read_replication_status(config)
    files: dict[str, dict[str, int]] = {}
    for region in config.regions:
        tables = open_tables(config, region)
        try:
            files[region] = dict(Counter(str(i.get("status")) for i in tables.batch_state.scan()))
        finally:
            tables.close()
    report: dict[str, Any] = {
        "metrics": _metrics(config),
        "routing": {
            "active_region": state.active_region,
            "epoch": state.epoch,
            "changed_at": state.changed_at,
            "reason": state.reason,
        },
        "replication": replication.get("directions", {}),
        "files": files,
    }
    try:
        report["stack"] = read_stack_file(config.data_dir)
    except MrBatchError:  # not running: status still reports the stored state
        report["stack"] = None
    return report


# the AWS sample's CloudWatch names, as the handlers and the runbook count them
METRIC_NAMES = (
    "InputFilesSplit",
    "ProcessedFiles",
    "FailedFiles",
    "ReconciledFiles",
    "EmailSent",
    "RegionalFailover",
)


def _metrics(config: StackConfig) -> dict[str, dict[str, float]]:
    """Per region: the file counters and the workflow executions by state machine/status."""
    metrics = SqliteMetrics(config.metrics_db)
    report: dict[str, dict[str, float]] = {}
    for region in config.regions:
        counters = {name: metrics.total(name, region=region) for name in METRIC_NAMES}
        counters.update(_execution_counts(config, region))
        report[region] = counters
    return report


def _execution_counts(config: StackConfig, region: str) -> dict[str, float]:
    """`<state machine>.<STATUS>` counts from the region's workflow database."""
    rows = query_read_only(
        config.workflows_db(region),
        "SELECT state_machine_arn, status, COUNT(*) FROM executions GROUP BY 1, 2",
    )
    return {f"{arn.rsplit(':', 1)[-1]}.{status}": float(n) for arn, status, n in rows}


def submit_files(
    data_dir: Path,
    paths: list[Path],
    *,
    prefix: str = "input/",
    progress: Callable[[Path, int], None] | None = None,
) -> Iterator[tuple[Path, str, str]]:
    """Upload each file to `<prefix><file name>` through the access point. Every file is
    checked before the first upload: one that does not exist, or whose key the stack would
    not process (see `input_suffixes`), stops the submission with nothing uploaded.
    `progress(path, bytes)` is told each part of a body as it goes out (boto3's transfer
    callback), from the transfer's threads."""
    config = _config(data_dir)
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
        key = f"{prefix}{path.name}"
        if key.startswith(naming.INPUT_PREFIX) and not naming.is_input(key, config.input_suffixes):
            raise ConfigError(
                f"{path}: {key} would be stored but never processed: this stack processes"
                f" keys ending in {', '.join(config.input_suffixes)} (input_suffixes in"
                f" {config.config_file})"
            )
    client = access_point_client(config)
    for path in paths:
        key = f"{prefix}{path.name}"
        told = None if progress is None else functools.partial(progress, path)
        yield path, key, _upload(client, config.bucket_alias, path, key, told)


# One PUT per file, as before progress was shown (s3transfer would otherwise switch to a
# multipart upload above 8 MiB and the ETag would change form).
_ONE_PUT = TransferConfig(multipart_threshold=5 * 1024**3)


def _upload(
    client: S3Client, bucket: str, path: Path, key: str, told: Callable[[int], None] | None
) -> str:
    """PUT `path` through s3transfer (for its progress callback); returns the ETag, taken
    from the PutObject response as it is parsed."""
    etags: list[str] = []

    def keep(parsed: dict[str, Any], **_: Any) -> None:
        etags.append(str(parsed.get("ETag", "")).strip('"'))

    handler_id = f"mrbatch-submit-{id(etags)}"
    client.meta.events.register("after-call.s3.PutObject", keep, unique_id=handler_id)
    try:
        client.upload_file(str(path), bucket, key, Callback=told, Config=_ONE_PUT)
    finally:
        client.meta.events.unregister("after-call.s3.PutObject", unique_id=handler_id)
    return etags[-1]


def file_rows(data_dir: Path) -> list[dict[str, Any]]:
    """Every batch-state item of both regions, with the region whose table holds it."""
    config = _config(data_dir)
    rows: list[dict[str, Any]] = []
    for region in config.regions:
        tables = open_tables(config, region)
        try:
            for item in tables.batch_state.scan():
                rows.append(
                    {
                        "table_region": region,
                        "file_id": item["file_id"],
                        "key": item.get("key", ""),
                        "version_id": item.get("version_id", ""),
                        "status": item.get("status", ""),
                        "region": item.get("region", ""),
                        "epoch": item.get("epoch", 0),
                        "output": item.get("output"),
                        "completed_at": item.get("completed_at"),
                        "error": item.get("error"),
                    }
                )
        finally:
            tables.close()
    return rows


def mail_messages(data_dir: Path) -> list[dict[str, str]]:
    """The mail sink's messages, oldest first."""
    config = _config(data_dir)
    messages = []
    for message in read_mailbox(config.mail_dir):
        body = message.get_body(preferencelist=("plain",))
        messages.append(
            {
                "date": str(message["Date"]),
                "to": str(message["To"]),
                "subject": str(message["Subject"]),
                "body": body.get_content() if body is not None else "",
                "text": message.as_string(),
            }
        )
    return messages


def latest_output_key(data_dir: Path, name: str) -> str:
    """The output key of the newest COMPLETED version of input `name` (`input/<name>`), in
    either region's table. Outputs are stored per file version, so a name alone does not
    say which one; the newest completion is what a user asking by name means."""
    key = name if name.startswith("input/") else f"input/{name}"
    completed = [
        row
        for row in file_rows(data_dir)
        if row["key"] == key and row["status"] == FileStatus.COMPLETED and row["output"]
    ]
    if not completed:
        raise MrBatchError(f"no completed output for {key} yet (see `mrbatch files`)")
    return str(max(completed, key=lambda row: float(row["completed_at"] or 0))["output"])


def presigned_url(data_dir: Path, name: str, *, expires_in: int = 3600) -> str:
    """A presigned GET link through the access point for an input's name (its newest
    completed output) or a full object key (`output/...`)."""
    config = _config(data_dir)
    key = name if name.startswith("output/") else latest_output_key(data_dir, name)
    return presign_get_url(
        read_endpoints(config)["gateway"],
        config.bucket_alias,
        key,
        load_credentials(config),
        expires_in=expires_in,
    )
