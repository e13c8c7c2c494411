"""What of the unfinished files is still on its way from one region to the other.

Both the runbook (its wait for replication) and a region taking over a new epoch wait on
the same question before reconciling: re-driving a file whose chunk outputs are still
replicating would redo them, while waiting for those objects lets the re-drive reuse them.
"""

from __future__ import annotations

from mrbatch.handlers import naming
from mrbatch.handlers.batch_state import unfinished_files
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.replication.changefeed import ChangeFeed
from mrbatch.runtime.wiring import open_tables

__all__ = ["pending_replication"]


def pending_replication(config: StackConfig, source: str, destination: str) -> list[str]:
    """Keys of unfinished files' objects (inputs and work) still to replicate from `source`
    to `destination`."""
    tables = [open_tables(config, region) for region in config.regions]
    try:
        items = unfinished_files([t.batch_state for t in tables])
    finally:
        for t in tables:
            t.close()
    if not items:
        return []
    inputs = {record.key for record in items.values()}
    work = tuple(naming.work_prefix(record.version_id) for record in items.values())
    feed = ChangeFeed(config.feed_db(source))
    try:
        pending = feed.read(f"replicate-to-{destination}", limit=1_000_000)
    finally:
        feed.close()
    return [c.key for c in pending if not c.replica and (c.key in inputs or c.key.startswith(work))]
