"""The Lambda handlers, `(event, context)`: one thin function per step, all in this module.

Each handler configures its container on its first call (`AwsSettings` from the
environment, the region spec installed; clients follow lazily), then hands the event to
the function the local engine runs for the same state. Step Functions' `lambda:invoke`
with `"Payload.$": "$"` passes the state's input as the event, so the step handlers need
no adapting; a raised error's class name is the error Step Functions sees
(`FencedError`, `MailError`, ...), which is what the definitions' Catchers name.

Deployed handler names: `mrbatch.aws.lambdas.<function>`.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict
from typing import Any, cast

from mrbatch.aws.clients import client
from mrbatch.aws.enrichment import answer
from mrbatch.aws.events import execution_status_change, objects_created
from mrbatch.aws.operations import activate, pending_replication, reconcile_on_aws
from mrbatch.aws.settings import AwsSettings
from mrbatch.aws.spec import AwsRegionSpec
from mrbatch.aws.stepfunctions import StepFunctionsStarter
from mrbatch.handlers import payloads, per_record, steps
from mrbatch.handlers.region import current_region, install_region_spec
from mrbatch.handlers.trigger import drive_file
from mrbatch.state import FINANCIALS

__all__ = [
    "activate_region",
    "configure",
    "email_the_file",
    "enrichment_api",
    "merge_all_files",
    "object_created",
    "process_chunk",
    "read_file",
    "reconcile",
    "record_execution_failure",
    "record_failed_file",
    "replication_backlog",
    "split_input_file",
    "validate_data",
    "write_output_file",
]

log = logging.getLogger(__name__)
_lock = threading.Lock()
_settings: AwsSettings | None = None
_GAVE_UP = {"FAILED", "TIMED_OUT", "ABORTED"}


def configure(settings: AwsSettings | None = None) -> AwsSettings:
    """Install this container's region from `settings` (default: the environment, as a
    deployed function does on its first call). Tests and scripts call it to pick a region."""
    global _settings
    with _lock:
        chosen = settings or AwsSettings.from_environment(os.environ)
        install_region_spec(AwsRegionSpec(chosen))
        _settings = chosen
        return chosen


def _configured() -> AwsSettings:
    return _settings if _settings is not None else configure()


def _starter(settings: AwsSettings) -> StepFunctionsStarter:
    return StepFunctionsStarter(
        client("stepfunctions", settings.region), settings.state_machine_arn
    )


# --- events ------------------------------------------------------------------------------


def object_created(event: dict[str, Any], context: object) -> list[dict[str, Any]]:
    """An S3 notification or EventBridge `Object Created` event: drive every input."""
    settings = _configured()
    region = current_region()
    outcomes = []
    for created in objects_created(event):
        outcome = drive_file(
            region=region.name,
            key=created.key,
            version_id=created.version_id,
            batch_state=region.batch_state,
            routing=region.routing,
            start=_starter(settings),
            event={"bucket": created.bucket, "region": created.region},
            suffixes=settings.input_suffixes,
        )
        outcomes.append(asdict(outcome))
    return outcomes


def record_execution_failure(event: dict[str, Any], context: object) -> dict[str, str]:
    """A main orchestrator execution FAILED, TIMED_OUT or was ABORTED (EventBridge's
    execution status change): the file ends FAILED and its owner gets one email, through
    `steps.record_execution_end`, the one function the local engine's listener calls too.
    Not when the execution's epoch is no longer current: the region active now re-drives
    that file (before its claim lands, a FAILED record would stop the re-drive)."""
    _configured()
    region = current_region()
    change = execution_status_change(event)
    if change.status not in _GAVE_UP or "epoch" not in change.input:
        return {"action": "ignored"}
    if region.routing.state().epoch != int(change.input["epoch"]):
        return {"action": "left to the active region"}
    detail = cast(payloads.ExecutionEnd, event["detail"])
    if not steps.record_execution_end(region, detail):
        return {"action": "left alone"}
    region.metrics.count("FailedFiles", region=region.name)
    return {"action": "recorded"}


# --- the main orchestrator's and chunk processors' steps --------------------------------


def split_input_file(event: Any, context: object) -> Any:
    _configured()
    return steps.split_input_file(event)


def process_chunk(event: Any, context: object) -> Any:
    _configured()
    return steps.process_chunk_batched(event)


def merge_all_files(event: Any, context: object) -> Any:
    _configured()
    return steps.merge_all_files(event)


def email_the_file(event: Any, context: object) -> Any:
    _configured()
    return steps.email_the_file(event)


def record_failed_file(event: Any, context: object) -> Any:
    _configured()
    return steps.record_failed_file(event)


def read_file(event: Any, context: object) -> Any:
    _configured()
    return per_record.read_file(event)


def validate_data(event: Any, context: object) -> Any:
    _configured()
    return per_record.validate_data(event)


def write_output_file(event: Any, context: object) -> Any:
    _configured()
    return per_record.write_output_file(event)


# --- the enrichment API ------------------------------------------------------------------


def enrichment_api(event: dict[str, Any], context: object) -> dict[str, Any]:
    """API Gateway (HTTP API, IAM authorization) -> the financial global table."""
    settings = _configured()
    return answer(event, AwsRegionSpec(settings).table(FINANCIALS, settings.financials_table))


# --- the runbook's steps -----------------------------------------------------------------


def activate_region(event: dict[str, Any], context: object) -> dict[str, Any]:
    """`{"region", "expectedEpoch", "reason"}`: set the active region (compare-and-set)."""
    _configured()
    state = activate(
        current_region().routing,
        str(event["region"]),
        str(event.get("reason") or "runbook"),
        expected_epoch=int(event["expectedEpoch"]),
    )
    return asdict(state)


def replication_backlog(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The unfinished files whose input has not replicated into this region yet."""
    settings = _configured()
    pending = pending_replication(current_region(), client("s3", settings.region))
    return {"pending": pending, "count": len(pending)}


def reconcile(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Re-drive every unfinished file in this region, starting its work directly."""
    settings = _configured()
    result = reconcile_on_aws(
        current_region(),
        client("s3", settings.region),
        _starter(settings),
        suffixes=settings.input_suffixes,
    )
    return asdict(result)
