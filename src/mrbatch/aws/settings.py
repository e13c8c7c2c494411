"""What an AWS function reads from its environment, read once at its entry point.

Every variable is named here with what it is for; a missing one raises ConfigError naming
it (all the missing ones, one line each), so a deployment mistake reads as one clear
message instead of a KeyError deep in a handler.

Example:
    >>> env = {**REQUIRED_EXAMPLE, "MRBATCH_CHUNK_SIZE": "500"}
    >>> AwsSettings.from_environment(env).chunk_size
    500
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mrbatch.errors import ConfigError

__all__ = ["OPTIONAL", "REQUIRED", "REQUIRED_EXAMPLE", "AwsSettings"]

REQUIRED: dict[str, str] = {
    "AWS_REGION": "the function's region (set by Lambda itself)",
    "MRBATCH_REGIONS": "the two regions, comma-separated, e.g. us-east-1,us-west-2",
    "MRBATCH_BUCKET": "this region's input/output bucket",
    "MRBATCH_BATCH_STATE_TABLE": "the batch-state global table",
    "MRBATCH_ERRORS_TABLE": "the error global table",
    "MRBATCH_FINANCIALS_TABLE": "the financial-data global table",
    "MRBATCH_ROUTING_TABLE": "the strongly consistent active-region table",
    "MRBATCH_MAIL_LEDGER_TABLE": "the email idempotency ledger table",
    "MRBATCH_STATE_MACHINE_ARN": "this region's main orchestrator state machine",
    "MRBATCH_SENDER": "the SES-verified address emails come from",
    "MRBATCH_RECIPIENTS": "who gets the emails, comma-separated",
}
OPTIONAL: dict[str, str] = {
    "MRBATCH_ACCESS_POINT_ARN": "the Multi-Region Access Point (links go through it)",
    "MRBATCH_CHUNK_SIZE": "records per chunk (default 1000)",
    "MRBATCH_PRESIGN_EXPIRY_SECONDS": "how long an emailed link works (default 3600)",
    "MRBATCH_INPUT_SUFFIXES": "input suffixes, comma-separated (default .csv)",
    "MRBATCH_SCHEMA": "a JSON Schema file for the rows (default: the shipped one)",
    "MRBATCH_METRICS_NAMESPACE": "the CloudWatch namespace (default mrbatch)",
    "MRBATCH_TABLE_REGION": "the region whose endpoint serves the global tables (default: "
    "this one; another one only where this region holds no replica)",
}
REQUIRED_EXAMPLE: dict[str, str] = {
    "AWS_REGION": "us-east-1",
    "MRBATCH_REGIONS": "us-east-1,us-west-2",
    "MRBATCH_BUCKET": "mrbatch-us-east-1",
    "MRBATCH_BATCH_STATE_TABLE": "mrbatch-batch-state",
    "MRBATCH_ERRORS_TABLE": "mrbatch-errors",
    "MRBATCH_FINANCIALS_TABLE": "mrbatch-financials",
    "MRBATCH_ROUTING_TABLE": "mrbatch-routing",
    "MRBATCH_MAIL_LEDGER_TABLE": "mrbatch-mail-ledger",
    "MRBATCH_STATE_MACHINE_ARN": (
        "arn:aws:states:us-east-1:123456789012:stateMachine:main_orchestrator"
    ),
    "MRBATCH_SENDER": "mrbatch@example.com",
    "MRBATCH_RECIPIENTS": "ops@example.com",
}


@dataclass(frozen=True)
class AwsSettings:
    """One region's configuration on AWS (picklable, plain values)."""

    region: str
    regions: tuple[str, ...]
    bucket: str
    batch_state_table: str
    errors_table: str
    financials_table: str
    routing_table: str
    mail_ledger_table: str
    state_machine_arn: str
    sender: str
    recipients: tuple[str, ...]
    access_point_arn: str | None = None
    chunk_size: int = 1000
    presign_expiry_seconds: int = 3600
    input_suffixes: tuple[str, ...] = (".csv",)
    schema: str | None = None
    metrics_namespace: str = "mrbatch"
    table_region: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> AwsSettings:
        """The settings in `env` (a function's `os.environ`); ConfigError naming every
        missing or malformed variable."""
        target = env.get("MRBATCH_TARGET") or "aws"
        if target != "aws":
            raise ConfigError(f"MRBATCH_TARGET is {target!r}: these settings are the AWS target's")
        missing = [f"{name}: {why}" for name, why in REQUIRED.items() if not env.get(name)]
        if missing:
            raise ConfigError(
                "the AWS target needs these environment variables:\n  " + "\n  ".join(missing)
            )
        settings = cls(
            region=env["AWS_REGION"],
            regions=_names(env["MRBATCH_REGIONS"]),
            bucket=env["MRBATCH_BUCKET"],
            batch_state_table=env["MRBATCH_BATCH_STATE_TABLE"],
            errors_table=env["MRBATCH_ERRORS_TABLE"],
            financials_table=env["MRBATCH_FINANCIALS_TABLE"],
            routing_table=env["MRBATCH_ROUTING_TABLE"],
            mail_ledger_table=env["MRBATCH_MAIL_LEDGER_TABLE"],
            state_machine_arn=env["MRBATCH_STATE_MACHINE_ARN"],
            sender=env["MRBATCH_SENDER"],
            recipients=_names(env["MRBATCH_RECIPIENTS"]),
            access_point_arn=env.get("MRBATCH_ACCESS_POINT_ARN") or None,
            chunk_size=_positive(env, "MRBATCH_CHUNK_SIZE", 1000),
            presign_expiry_seconds=_positive(env, "MRBATCH_PRESIGN_EXPIRY_SECONDS", 3600),
            input_suffixes=_names(env.get("MRBATCH_INPUT_SUFFIXES") or ".csv"),
            schema=env.get("MRBATCH_SCHEMA") or None,
            metrics_namespace=env.get("MRBATCH_METRICS_NAMESPACE") or "mrbatch",
            table_region=env.get("MRBATCH_TABLE_REGION") or None,
        )
        if settings.region not in settings.regions:
            raise ConfigError(
                f"AWS_REGION {settings.region} is not one of MRBATCH_REGIONS {settings.regions}"
            )
        return settings


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a positive whole number, got {text!r}")
    return value
