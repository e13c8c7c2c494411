"""What the dashboard's per-file page shows: one file version's life across both regions.

A file's story is spread over files that different processes own, and none of them keeps
it whole: the batch-state item holds only the latest state, the change feeds when each
copy of the input (and of the output) appeared, the workflow databases every execution
with its history, the takeover log which epoch re-drove it, the runbook log when the
work moved, the JSON logs what the triggers decided, the mail folder when it was emailed.
`file_detail` reads them all, read-only, and merges them into one timeline, so the page
shows what happened rather than what one table remembers.

Example:
    >>> import tempfile, pathlib
    >>> config = StackConfig(data_dir=pathlib.Path(tempfile.mkdtemp()))
    >>> file_detail(config, "input/a.csv#v1") is None  # nothing knows that file
    True
"""

from __future__ import annotations

import email.policy
import json
from email.parser import BytesHeaderParser
from typing import Any

from mrbatch.accesspoint.presign import presign_get_url
from mrbatch.handlers import naming
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.jsonlog import read_logs
from mrbatch.runtime.operations.runbook import RunbookLog
from mrbatch.runtime.wiring import load_credentials, open_tables, read_endpoints
from mrbatch.state.db import query_read_only

__all__ = [
    "ERROR_ROWS_SHOWN",
    "EVENTS_SHOWN",
    "LINK_SECONDS",
    "Event",
    "file_detail",
    "output_link",
]

Event = dict[str, Any]  # {"at", "region", "kind", "detail", "source"}

ERROR_ROWS_SHOWN = 200  # the page lists this many invalid rows; the count is always whole
EVENTS_SHOWN = 300  # history events per execution (a chunk run has a few dozen)
LINK_SECONDS = 3600  # a link made for the page lasts an hour, as the emailed one
_IDEMPOTENCY_HEADER = "X-Mrbatch-Idempotency-Key"


def _event(at: float, region: str | None, kind: str, detail: str, source: str) -> Event:
    return {"at": float(at), "region": region, "kind": kind, "detail": detail, "source": source}


def _records(config: StackConfig, file_id: str) -> dict[str, dict[str, Any] | None]:
    """Each region's batch-state item of the file (None where it has none yet)."""
    records: dict[str, dict[str, Any] | None] = {}
    for region in config.regions:
        tables = open_tables(config, region)
        try:
            records[region] = tables.batch_state.get({"file_id": file_id})
        finally:
            tables.close()
    return records


def _record_events(records: dict[str, dict[str, Any] | None]) -> list[Event]:
    """Completion or failure, as the item that holds it says (once, from any region)."""
    events: dict[tuple[str, str], Event] = {}
    for item in records.values():
        if item is None:
            continue
        if item.get("completed_at") is not None:
            region = str(item.get("completed_region"))
            events[("completed", region)] = _event(
                item["completed_at"], region, "completed", "COMPLETED", "batch state"
            )
        if item.get("status") == "FAILED":
            region = str(item.get("region"))
            detail = f"FAILED: {item.get('error')}: {item.get('cause')}"
            events[("failed", region)] = _event(
                item["updated_at"], region, "failed", detail, "batch state"
            )
    return list(events.values())


def _feed_events(config: StackConfig, key: str, version_id: str) -> list[Event]:
    """From each region's change feed: where the input was uploaded, when its replica
    arrived, when reconciliation announced it again, and when the merge wrote the output."""
    events: list[Event] = []
    outputs = {
        naming.output_key(key, version_id): "output",
        naming.errors_key(key, version_id): "errors report",
    }
    for region in config.regions:
        rows = query_read_only(
            config.feed_db(region),
            "SELECT key, replica, created_at FROM changes WHERE state='committed'"
            " AND version_id=? AND key=? ORDER BY seq",
            (version_id, key),
        )
        for index, (_, replica, at) in enumerate(rows):
            if index:
                kind, detail = "announced again", "reconciliation re-announced the input"
            elif replica:
                kind, detail = "replicated", f"input replica arrived from {config.peer_of(region)}"
            else:
                kind, detail = "uploaded", f"{key} version {version_id}"
            events.append(_event(at, region, kind, detail, "change feed"))
        for out_key, what in outputs.items():
            for _, replica, at in query_read_only(
                config.feed_db(region),
                "SELECT key, replica, created_at FROM changes WHERE state='committed' AND key=?"
                " ORDER BY seq LIMIT 1",
                (out_key,),
            ):
                kind = "replicated" if replica else "merged"
                detail = f"{what} {'replica' if replica else 'written'}: {out_key}"
                events.append(_event(at, region, kind, detail, "change feed"))
    return events


def _executions(config: StackConfig, key: str, version_id: str, file_id: str) -> list[Any]:
    """Every execution of the file (main orchestrator and chunk processors, every epoch,
    both regions), oldest first, each with its history. Execution names start with
    `<stem>-<digest>-e<epoch>` (naming.execution_name); the input's fileId confirms."""
    prefix = naming.execution_name(key, version_id, 0)[:-1]  # "...-e"
    found = []
    for region in config.regions:
        rows = query_read_only(
            config.workflows_db(region),
            "SELECT arn, name, state_machine_arn, status, input, error, cause, start_date,"
            " stop_date FROM executions WHERE substr(name, 1, ?) = ? ORDER BY start_date",
            (len(prefix), prefix),
        )
        for arn, name, machine, status, raw, error, cause, start, stop in rows:
            if json.loads(raw).get("fileId") != file_id:
                continue
            found.append(
                {
                    "region": region,
                    "arn": arn,
                    "name": name,
                    "state_machine": str(machine).rsplit(":", 1)[-1],
                    "status": status,
                    "error": error,
                    "cause": cause,
                    "start": start,
                    "stop": stop,
                    "events": _history(config, region, str(arn)),
                }
            )
    return sorted(found, key=lambda e: float(e["start"]))


def _history(config: StackConfig, region: str, arn: str) -> list[dict[str, Any]]:
    rows = query_read_only(
        config.workflows_db(region),
        "SELECT id, previous_id, timestamp, type, details FROM events WHERE execution_arn=?"
        " ORDER BY id LIMIT ?",
        (arn, EVENTS_SHOWN),
    )
    return [
        {"id": i, "previous_id": p, "at": t, "type": kind, "details": json.loads(d) if d else None}
        for i, p, t, kind, d in rows
    ]


def _execution_events(executions: list[dict[str, Any]]) -> list[Event]:
    """Main runs started and ended; per run (region, epoch) one "chunks done" event."""
    events: list[Event] = []
    chunks: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in executions:
        region, machine = run["region"], run["state_machine"]
        if machine == "main_orchestrator":
            events.append(_event(run["start"], region, "started", run["name"], "workflow"))
            if run["stop"] is not None:
                detail = f"{run['name']} {run['status']}"
                events.append(_event(run["stop"], region, "run ended", detail, "workflow"))
        elif machine.startswith("chunk_processor"):
            epoch_run = run["name"].rsplit("-", 1)[0]
            chunks.setdefault((region, epoch_run), []).append(run)
    for (region, epoch_run), runs in chunks.items():
        done = [r for r in runs if r["status"] == "SUCCEEDED" and r["stop"] is not None]
        if done:
            at = max(float(r["stop"]) for r in done)
            detail = f"{len(done)} of {len(runs)} chunk runs of {epoch_run} succeeded"
            events.append(_event(at, region, "chunks done", detail, "workflow"))
    return events


def _takeover_events(config: StackConfig, file_id: str) -> list[Event]:
    """Each epoch's takeover that re-drove the file (or found its input missing)."""
    events = []
    rows = query_read_only(
        config.takeovers_db,
        "SELECT epoch, region, at, result FROM takeovers WHERE result IS NOT NULL ORDER BY epoch",
    )
    for epoch, region, at, raw in rows:
        result = json.loads(raw)
        if file_id in result.get("redriven", []):
            detail = f"re-driven by the takeover of epoch {epoch}"
            events.append(_event(at, region, "re-driven", detail, "takeover log"))
        elif file_id in result.get("missing", []):
            detail = f"input missing at the takeover of epoch {epoch} (driven on arrival)"
            events.append(_event(at, region, "missing at takeover", detail, "takeover log"))
    return events


def _runbook_events(config: StackConfig, since: float, until: float) -> list[Event]:
    """Runbook executions (failover, failback) that flipped the routing control while the
    file was being worked on: they are why its work moved."""
    log = RunbookLog(config)
    try:
        runs = log.executions()
    finally:
        log.close()
    events = []
    for run in runs:
        flip = next((s for s in run["steps"] if s["name"] == "FlipRoutingControl"), None)
        if flip is None or flip["status"] != "Success" or not since <= flip["started_at"] <= until:
            continue
        kind = "failed over" if run["kind"] == "failover" else "failed back"
        epoch = (flip["detail"] or {}).get("epoch")
        detail = (
            f"{run['kind']} {run['source']} -> {run['target']}, epoch {epoch} ({run['reason']})"
        )
        events.append(_event(flip["started_at"], run["target"], kind, detail, "runbook log"))
    return events


def _log_events(config: StackConfig, file_id: str) -> list[Event]:
    """What the processes logged about the file (the triggers' claims and skips)."""
    events = []
    for entry in read_logs(config.data_dir, file_id=file_id):
        if entry.get("file_id") != file_id:
            continue  # a message that only mentions the id in passing
        message = str(entry.get("message", ""))
        if "skipped (standby)" in message:
            kind = "skipped (standby)"
        elif entry.get("execution") and "started" in message:
            kind = "claimed"
        else:
            kind = "log"
        region = entry.get("region") or entry.get("service")
        events.append(_event(float(entry.get("ts", 0)), region, kind, message, "log"))
    return events


def _mail_events(config: StackConfig, file_id: str) -> list[Event]:
    """Each email sent about the file (its idempotency key is the file id). A message's
    file name starts with its arrival time in nanoseconds (notify.sink)."""
    folder = config.mail_dir
    if not folder.is_dir():
        return []
    parser = BytesHeaderParser(policy=email.policy.default)
    events = []
    for path in sorted(folder.glob("[0-9]*.eml")):
        with path.open("rb") as handle:
            headers = parser.parse(handle)
        if str(headers.get(_IDEMPOTENCY_HEADER, "")) != file_id:
            continue
        at = int(path.name.split("-", 1)[0]) / 1e9
        detail = f"to {headers['To']}: {headers['Subject']}"
        events.append(_event(at, None, "emailed", detail, "mailbox"))
    return events


def _error_rows(
    config: StackConfig, file_id: str
) -> tuple[int, dict[str, int], list[dict[str, Any]]]:
    """(invalid rows, by rule, the first ERROR_ROWS_SHOWN rows) from the error table of
    whichever region has the most (replication may still be bringing the rest)."""
    best: tuple[int, dict[str, int], list[dict[str, Any]]] = (0, {}, [])
    for region in config.regions:
        tables = open_tables(config, region)
        try:
            rows: list[dict[str, Any]] = []
            rules: dict[str, int] = {}
            count = 0
            for item in tables.errors.query("file_id", file_id):
                count += 1
                rule = str(item.get("rule"))
                rules[rule] = rules.get(rule, 0) + 1
                if len(rows) < ERROR_ROWS_SHOWN:
                    rows.append({k: item.get(k) for k in ("row", "field", "rule", "message")})
        finally:
            tables.close()
        if count > best[0]:
            best = (count, rules, rows)
    return best


def file_detail(config: StackConfig, file_id: str) -> dict[str, Any] | None:
    """Everything the per-file page shows about `file_id` (`<key>#<version id>`), or None
    when no region has heard of it. Read-only."""
    key, _, version_id = file_id.rpartition("#")
    if not key or not version_id:
        return None
    records = _records(config, file_id)
    feed = _feed_events(config, key, version_id)
    if not feed and not any(records.values()):
        return None
    executions = _executions(config, key, version_id, file_id)
    timeline = [
        *feed,
        *_record_events(records),
        *_execution_events(executions),
        *_takeover_events(config, file_id),
        *_log_events(config, file_id),
        *_mail_events(config, file_id),
    ]
    times = [e["at"] for e in timeline]
    unfinished = not any(r and r.get("status") in ("COMPLETED", "FAILED") for r in records.values())
    until = float("inf") if unfinished else max(times)
    timeline.extend(_runbook_events(config, min(times, default=0.0), until))
    timeline.sort(key=lambda e: (e["at"], e["kind"]))
    invalid, by_rule, rows = _error_rows(config, file_id)
    return {
        "file_id": file_id,
        "key": key,
        "version_id": version_id,
        "records": records,
        "timeline": timeline,
        "regions": sorted({str(e["region"]) for e in timeline if e["region"]}),
        "executions": executions,
        "errors": {"count": invalid, "by_rule": by_rule, "rows": rows},
        "output": next((r["output"] for r in records.values() if r and r.get("output")), None),
    }


def output_link(config: StackConfig, key: str, *, expires_in: int = LINK_SECONDS) -> str:
    """A fresh presigned GET link to `key` through the access point, signed server-side
    with the stack's credentials (as `mrbatch url`): the page never sees the secret, and a
    link it shows is as good as the one the email carried, for `expires_in` seconds."""
    return presign_get_url(
        read_endpoints(config)["gateway"],
        config.bucket_alias,
        key,
        load_credentials(config),
        expires_in=expires_in,
    )
