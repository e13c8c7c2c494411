"""Apply one stack with a change set (create or update), or delete it; both safe to re-run.

A change set that changes nothing is deleted and counts as done, so deploying twice is a
no-op; a stack in ROLLBACK_COMPLETE (a first create that failed) is deleted before it is
created again, as CloudFormation allows nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from mrbatch.errors import MrBatchError

__all__ = ["StackError", "apply_stack", "delete_stack", "stack_outputs"]

Progress = Callable[[str], None]
_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class StackError(MrBatchError):
    """A stack could not be applied or deleted (the message says which and why)."""


def stack_status(cfn: Any, name: str) -> str | None:
    """The stack's status, None when there is no such stack."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def stack_outputs(cfn: Any, name: str) -> dict[str, str]:
    """The stack's outputs by key (empty when it has none)."""
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def apply_stack(
    cfn: Any,
    name: str,
    template: dict[str, str],
    parameters: dict[str, str],
    progress: Progress,
) -> bool:
    """Create or update `name` through a change set; `template` is {"TemplateBody": ...}
    or {"TemplateURL": ...}. True when something changed."""
    status = stack_status(cfn, name)
    if status == "ROLLBACK_COMPLETE":
        progress(f"{name}: a failed first create is in the way; deleting it")
        delete_stack(cfn, name, progress)
        status = None
    kind = "CREATE" if status is None else "UPDATE"
    change_set = f"{name}-mrbatch"
    _delete_change_set(cfn, name, change_set, exists=status is not None)
    try:
        cfn.create_change_set(
            StackName=name,
            ChangeSetName=change_set,
            ChangeSetType=kind,
            Capabilities=_CAPABILITIES,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            **template,
        )
    except ClientError as exc:  # some endpoints refuse an empty change set at once
        if any(text in str(exc) for text in _NO_CHANGES):
            progress(f"{name}: up to date")
            return False
        raise
    if not _wait_change_set(cfn, name, change_set):
        progress(f"{name}: up to date")
        _delete_change_set(cfn, name, change_set, exists=True)
        return False
    progress(f"{name}: {kind.lower()} ...")
    cfn.execute_change_set(StackName=name, ChangeSetName=change_set)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    _wait(cfn, waiter, name)
    progress(f"{name}: {kind.lower()} complete")
    return True


def delete_stack(cfn: Any, name: str, progress: Progress) -> bool:
    """Delete `name` and wait; False when it did not exist."""
    if stack_status(cfn, name) is None:
        progress(f"{name}: already gone")
        return False
    progress(f"{name}: deleting ...")
    cfn.delete_stack(StackName=name)
    _wait(cfn, "stack_delete_complete", name)
    progress(f"{name}: deleted")
    return True


def _wait_change_set(cfn: Any, name: str, change_set: str) -> bool:
    """True when the change set is ready to execute, False when it changes nothing."""
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName=change_set, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
    except Exception as exc:  # the waiter raises on FAILED: read why
        described = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)
        reason = str(described.get("StatusReason", ""))
        if any(text in reason for text in _NO_CHANGES):
            return False
        raise StackError(f"{name}: change set failed: {reason or exc}") from exc
    return True


def _wait(cfn: Any, waiter: str, name: str) -> None:
    try:
        cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": 10, "MaxAttempts": 360})
    except Exception as exc:
        raise StackError(f"{name}: {waiter.replace('_', ' ')} did not happen: {exc}") from exc


def _delete_change_set(cfn: Any, name: str, change_set: str, *, exists: bool) -> None:
    """Delete the change set left by an earlier run, if the stack has one by that name
    (listed first: deleting one that is not there is an error on AWS and a crash in
    moto)."""
    if not exists:
        return
    pages = cfn.get_paginator("list_change_sets").paginate(StackName=name)
    if any(s["ChangeSetName"] == change_set for p in pages for s in p.get("Summaries", [])):
        with contextlib.suppress(ClientError):  # another run deleted it meanwhile
            cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
