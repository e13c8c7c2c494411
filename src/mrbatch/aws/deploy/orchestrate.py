"""deploy, destroy and status of a whole environment: the plan's stacks in order.

Every AWS client comes from `clients(service, region)`, so the same code runs against AWS,
moto and botocore's Stubber. `dry_run` needs no client at all: it renders every template
into a folder and returns the plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mrbatch.aws.deploy.plan import Deployment, Stack, chaos_plan, deploy_plan, destroy_plan
from mrbatch.aws.deploy.stacks import (
    StackError,
    apply_stack,
    delete_stack,
    stack_outputs,
    stack_status,
)
from mrbatch.aws.deploy.templates import render
from mrbatch.errors import ConfigError

__all__ = ["Clients", "deploy", "destroy", "empty_bucket", "render_plan", "status"]

Clients = Callable[[str, str], Any]
Progress = Callable[[str], None]
_TEMPLATE_BODY_LIMIT = 51_200  # larger templates go through the artifacts bucket


def render_plan(d: Deployment, out: Path, *, chaos: bool = False) -> list[Stack]:
    """Render every template of the plan into `out` (no credentials); the plan."""
    plan = [*deploy_plan(d), *(chaos_plan(d) if chaos else [])]
    out.mkdir(parents=True, exist_ok=True)
    for name in sorted({s.template for s in plan}):
        (out / f"{name}.json").write_text(render(name).text(), encoding="utf-8")
    return plan


def deploy(
    d: Deployment, clients: Clients, build: Path, progress: Progress, *, chaos: bool = False
) -> list[str]:
    """Apply the plan (or the chaos stacks); the labels of the stacks that changed."""
    account = str(clients("sts", d.primary).get_caller_identity()["Account"])
    if not chaos:  # the chaos stacks need no code
        d = replace(d, code_key=_keyed(build / d.code_key), layer_key=_keyed(build / d.layer_key))
    changed = []
    for stack in chaos_plan(d) if chaos else deploy_plan(d):
        cfn = clients("cloudformation", stack.region)
        body = render(stack.template).text()
        template = _template_source(d, clients, account, stack, body)
        parameters = {
            k: _resolve(v, d, clients, account, stack) for k, v in stack.parameters.items()
        }
        progress(f"[{stack.label}] {d.stack_name(stack.template)}")
        if _replicated_already(cfn, d, stack):
            progress(f"{d.stack_name(stack.template)}: exists; its replication pass applies it")
            continue
        if apply_stack(cfn, d.stack_name(stack.template), template, parameters, progress):
            changed.append(stack.label)
        if stack.template == "artifacts":
            _upload_build(
                clients("s3", stack.region),
                d.artifacts_bucket(account, stack.region),
                d,
                build,
                progress,
            )
    return changed


def _replicated_already(cfn: Any, d: Deployment, stack: Stack) -> bool:
    """Whether `stack` is the storage stack's first pass (no replica region yet) over a
    stack that exists: applying it would take the bucket's replication off until the
    replication pass puts it back, and uploads in between would never replicate. The
    replication pass applies any template change with the full parameters."""
    first_pass = stack.template == "storage" and "ReplicaRegion" not in stack.parameters
    return first_pass and stack_status(cfn, d.stack_name(stack.template)) is not None


def destroy(
    d: Deployment, clients: Clients, progress: Progress, *, chaos_only: bool = False
) -> None:
    """Delete the stacks in reverse order, emptying each versioned bucket before the stack
    that owns it goes."""
    account = str(clients("sts", d.primary).get_caller_identity()["Account"])
    for stack in chaos_plan(d) if chaos_only else destroy_plan(d):
        s3 = clients("s3", stack.region)
        if stack.template == "storage":
            empty_bucket(s3, d.bucket(account, stack.region), progress)
        if stack.template == "artifacts":
            empty_bucket(s3, d.artifacts_bucket(account, stack.region), progress)
        delete_stack(
            clients("cloudformation", stack.region), d.stack_name(stack.template), progress
        )


def status(d: Deployment, clients: Clients) -> list[tuple[str, str, str]]:
    """(stack, region, status or "absent") for every stack of the plan, once each."""
    rows = []
    for stack in reversed(destroy_plan(d)):
        found = stack_status(clients("cloudformation", stack.region), d.stack_name(stack.template))
        rows.append((d.stack_name(stack.template), stack.region, found or "absent"))
    return rows


def empty_bucket(s3: Any, bucket: str, progress: Progress) -> int:
    """Delete every version and delete marker of `bucket` (a versioned bucket cannot be
    deleted otherwise); the count deleted, 0 when there is no such bucket."""
    deleted = 0
    try:
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    except s3.exceptions.NoSuchBucket:
        return 0
    for page in pages:
        objects = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        for start in range(0, len(objects), 1000):
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": objects[start : start + 1000], "Quiet": True}
            )
            deleted += len(objects[start : start + 1000])
    progress(f"{bucket}: emptied ({deleted} versions)")
    return deleted


def _template_source(
    d: Deployment, clients: Clients, account: str, stack: Stack, body: str
) -> dict[str, str]:
    if len(body) <= _TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    if stack.template == "artifacts":
        raise ConfigError("the artifacts template must stay small enough to send inline")
    bucket = d.artifacts_bucket(account, stack.region)
    key = f"templates/{stack.template}.json"
    clients("s3", stack.region).put_object(Bucket=bucket, Key=key, Body=body.encode())
    return {"TemplateURL": f"https://{bucket}.s3.{stack.region}.amazonaws.com/{key}"}


def _resolve(value: str, d: Deployment, clients: Clients, account: str, stack: Stack) -> str:
    """A plan parameter's value: `@artifacts` and `@output:<template>:<key>[@region]`."""
    if value == "@artifacts":
        return d.artifacts_bucket(account, stack.region)
    if value.startswith("@output:"):
        reference, _, region = value.removeprefix("@output:").partition("@")
        template, _, key = reference.partition(":")
        where, name = region or stack.region, d.stack_name(template)
        outputs = stack_outputs(clients("cloudformation", where), name)
        if key not in outputs:
            raise StackError(f"{name} ({where}) has no output {key}, which {stack.label} needs")
        return outputs[key]
    return value


def _keyed(path: Path) -> str:
    """`code.zip` -> `code-<sha256 prefix>.zip`: a new build is a new key, so CloudFormation
    sees the change and Lambda takes the new code."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (run make lambda-build first)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"{path.stem}-{digest}.zip"


def _upload_build(s3: Any, bucket: str, d: Deployment, build: Path, progress: Progress) -> None:
    for key in (d.code_key, d.layer_key):
        path = build / f"{key.rpartition('-')[0]}.zip"
        if not path.is_file():
            raise ConfigError(f"{path}: no such file (run make lambda-build first)")
        s3.upload_file(str(path), bucket, key)
        progress(f"{bucket}/{key}: uploaded")
