"""The outside checker: does a stack keep the correctness contract (`mrbatch verify`)?

It reads a stack the way an auditor would, through what the stack exposes and never
through the code paths under test: both buckets, both batch-state tables, the routing
history, the mail sink's messages (and the links in them, fetched like a user would), the
workflow histories and the services. `collect` takes that snapshot (I/O); `check` is a pure
function of it, so each kind of violation is tested on hand-made snapshots.

What counts as a violation (docs/architecture.md, "The correctness contract"):

- `lost`: an accepted input version that is not COMPLETED or FAILED in both tables;
- `emails`: a COMPLETED version without exactly one email;
- `output`: a COMPLETED version whose output is missing in a region, or differs from
  `mrbatch process` of the same input and financial data (when a reference is given);
- `link`: an email whose link serves other bytes than its version's output, or names
  another version (a superseded run emailing over a newer one);
- `region`: work completed by a region that was not active under the record's epoch;
- `running`: an execution still running after quiescence;
- `service`: a service of the stack that is not running at the end.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Email", "Reference", "Snapshot", "Violation", "check", "link_in"]

Reference = Callable[[str], bytes | None]
"""file id -> the bytes `mrbatch process` writes for that version (None: not checked)."""

_LINK = re.compile(r"https?://\S+")
_VERSION = re.compile(r"\(version ([^)\s]+)\)")


def link_in(body: str) -> str | None:
    """The first link in an email body, if any."""
    match = _LINK.search(body)
    return match.group(0) if match else None


@dataclass(frozen=True)
class Violation:
    """One broken promise: its kind (see the module doc), the file version, what was seen."""

    kind: str
    file_id: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Email:
    """One message of the mail sink: its idempotency key header and its body."""

    key: str
    body: str


@dataclass
class Snapshot:
    """Everything the checker looks at, read from a stack at one moment.

    `inputs`: per region, the input versions in its bucket (file ids) that the stack
    processes; `items`: per region, its batch-state items by file id; `outputs`: per region,
    object key -> bytes for every key an item names as its output; `routing`: epoch ->
    active region; `emails`: the mail sink's messages; `links`: URL -> the bytes it serves
    (None when it does not serve); `running`: names of executions still running;
    `services`: service name -> whether it runs.
    """

    inputs: dict[str, set[str]] = field(default_factory=dict)
    items: dict[str, dict[str, Mapping[str, Any]]] = field(default_factory=dict)
    outputs: dict[str, dict[str, bytes]] = field(default_factory=dict)
    routing: dict[int, str] = field(default_factory=dict)
    emails: list[Email] = field(default_factory=list)
    links: dict[str, bytes | None] = field(default_factory=dict)
    running: list[str] = field(default_factory=list)
    services: dict[str, bool] = field(default_factory=dict)


def check(snapshot: Snapshot, reference: Reference = lambda _: None) -> list[Violation]:
    """Every violation of the contract visible in `snapshot`, in a stable order."""
    found: list[Violation] = []
    found += _lost(snapshot)
    completed = _completed(snapshot)
    found += _emails(snapshot, completed)
    found += _outputs(snapshot, completed, reference)
    found += _links(snapshot, completed)
    found += _regions(snapshot, completed)
    found += [Violation("running", name, "execution still running") for name in snapshot.running]
    found += [
        Violation("service", name, "not running at the end")
        for name, alive in sorted(snapshot.services.items())
        if not alive
    ]
    return found


def _lost(snapshot: Snapshot) -> list[Violation]:
    accepted = set().union(*snapshot.inputs.values()) if snapshot.inputs else set()
    found = []
    for file_id in sorted(accepted):
        for region, items in sorted(snapshot.items.items()):
            status = items.get(file_id, {}).get("status")
            if status not in ("COMPLETED", "FAILED"):
                found.append(Violation("lost", file_id, f"{status or 'no record'} in {region}"))
    return found


def _completed(snapshot: Snapshot) -> dict[str, Mapping[str, Any]]:
    """COMPLETED items by file id (the first region's copy that says so)."""
    done: dict[str, Mapping[str, Any]] = {}
    for _region, items in sorted(snapshot.items.items()):
        for file_id, item in items.items():
            if item.get("status") == "COMPLETED":
                done.setdefault(file_id, item)
    return done


def _emails(snapshot: Snapshot, completed: Mapping[str, Mapping[str, Any]]) -> list[Violation]:
    sent = Counter(email.key for email in snapshot.emails)
    return [
        Violation("emails", file_id, f"{sent[file_id]} emails")
        for file_id in sorted(completed)
        if sent[file_id] != 1
    ]


def _outputs(
    snapshot: Snapshot, completed: Mapping[str, Mapping[str, Any]], reference: Reference
) -> list[Violation]:
    found = []
    for file_id, item in sorted(completed.items()):
        key = str(item.get("output") or "")
        expected = reference(file_id)
        for region, objects in sorted(snapshot.outputs.items()):
            if key not in objects:
                found.append(Violation("output", file_id, f"no output {key!r} in {region}"))
            elif expected is not None and objects[key] != expected:
                found.append(Violation("output", file_id, f"{region}'s output differs"))
    return found


def _links(snapshot: Snapshot, completed: Mapping[str, Mapping[str, Any]]) -> list[Violation]:
    """Every email with a link names its own version, and the link serves that version's
    output (checked for the versions that are COMPLETED)."""
    found = []
    for email in snapshot.emails:
        link = link_in(email.body)
        if link is None:
            continue
        named = _VERSION.search(email.body)
        if named is None or named.group(1) != email.key.rpartition("#")[2]:
            found.append(Violation("link", email.key, "the email names another version"))
        item = completed.get(email.key)
        if item is None:
            continue
        output = next(
            (o[item["output"]] for o in snapshot.outputs.values() if item.get("output") in o),
            None,
        )
        if snapshot.links.get(link) != output:
            found.append(Violation("link", email.key, "the link does not serve the output"))
    return found


def _regions(snapshot: Snapshot, completed: Mapping[str, Mapping[str, Any]]) -> list[Violation]:
    found = []
    for file_id, item in sorted(completed.items()):
        epoch, region = int(item.get("epoch", 0)), item.get("completed_region")
        active = snapshot.routing.get(epoch)
        if region != active:
            found.append(
                Violation("region", file_id, f"completed by {region}; {active} was active")
            )
    return found
