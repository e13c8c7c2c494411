"""The deployment's stacks, in the one order they are applied (destroy: the reverse).

Names derive from the environment name, so two environments share an account:
stack `mrbatch-<env>-<template>`, bucket `mrbatch-<env>-<account>-<region>`, tables
`mrbatch-<env>-<table>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mrbatch.errors import ConfigError

__all__ = ["Deployment", "Stack", "chaos_plan", "deploy_plan", "destroy_plan"]

_ENV = re.compile(r"^[a-z][a-z0-9-]{1,14}$")
WITNESS = {"us-east-1": "us-east-2", "us-east-2": "us-west-2", "us-west-2": "us-east-2"}
"""A witness region for the routing table: a third region of the same region set."""


@dataclass(frozen=True)
class Deployment:
    """What `mrbatch aws deploy` was asked for."""

    env: str
    primary: str
    secondary: str
    ses_identity: str = ""
    recipients: str = ""
    runtime: str = "python3.11"
    witness: str = ""
    code_key: str = "code.zip"
    layer_key: str = "layer.zip"

    def __post_init__(self) -> None:
        if not _ENV.match(self.env):
            raise ConfigError(
                f"--env {self.env!r}: 2-15 of a-z, 0-9 and '-', starting with a letter"
            )
        if self.primary == self.secondary:
            raise ConfigError("--primary and --secondary must be two different regions")

    @property
    def regions(self) -> tuple[str, str]:
        return (self.primary, self.secondary)

    def stack_name(self, template: str) -> str:
        return f"mrbatch-{self.env}-{template}"

    def bucket(self, account: str, region: str) -> str:
        return f"mrbatch-{self.env}-{account}-{region}"

    def artifacts_bucket(self, account: str, region: str) -> str:
        return f"mrbatch-{self.env}-artifacts-{account}-{region}"

    def witness_region(self) -> str:
        witness = self.witness or WITNESS.get(self.primary, "")
        if not witness or witness in self.regions:
            raise ConfigError("name a --witness region (a third region of the same set)")
        return witness


@dataclass(frozen=True)
class Stack:
    """One stack of the plan: which template, where, with which parameters. A parameter
    whose value is `@output:<stack template>:<output>` is read from that stack in the same
    region at apply time (`@output:routing:AccessPointArn@<region>` from another)."""

    template: str
    region: str
    parameters: dict[str, str] = field(default_factory=dict)
    step: str = ""

    @property
    def label(self) -> str:
        return f"{self.step or self.template} ({self.region})"


def deploy_plan(d: Deployment) -> list[Stack]:
    """Every stack, in order: artifacts, global tables, buckets, their replication, the
    access point, the applications, the operations."""
    env = {"EnvName": d.env}
    pair = {"PrimaryRegion": d.primary, "SecondaryRegion": d.secondary}
    mrap = f"@output:routing:AccessPointArn@{d.primary}"
    plan = [Stack("artifacts", r, dict(env)) for r in d.regions]
    plan.append(Stack("global", d.primary, {**env, **pair, "WitnessRegion": d.witness_region()}))
    plan += [Stack("storage", r, dict(env)) for r in d.regions]
    plan += [
        Stack("storage", r, {**env, "ReplicaRegion": other}, step="replication")
        for r, other in ((d.primary, d.secondary), (d.secondary, d.primary))
    ]
    plan.append(Stack("routing", d.primary, {**env, **pair}))
    sender = d.ses_identity
    for region in d.regions:
        plan.append(
            Stack(
                "regional",
                region,
                {
                    **env,
                    **pair,
                    "ArtifactBucket": "@artifacts",
                    "CodeKey": d.code_key,
                    "LayerKey": d.layer_key,
                    "Runtime": d.runtime,
                    "AccessPointArn": mrap,
                    "SesIdentity": d.ses_identity,
                    "Sender": sender,
                    "Recipients": d.recipients or sender,
                },
            )
        )
    plan += [Stack("operations", r, {**env, **pair, "AccessPointArn": mrap}) for r in d.regions]
    return plan


def chaos_plan(d: Deployment) -> list[Stack]:
    """The chaos stacks (`make chaos`), one per region."""
    return [Stack("chaos", r, {"EnvName": d.env}) for r in d.regions]


def destroy_plan(d: Deployment) -> list[Stack]:
    """Every stack once, in the reverse of the deploy order (chaos first)."""
    seen: set[tuple[str, str]] = set()
    ordered = []
    for stack in reversed([*deploy_plan(d), *chaos_plan(d)]):
        if (stack.template, stack.region) not in seen:
            seen.add((stack.template, stack.region))
            ordered.append(stack)
    return ordered
