"""The `RoutingControl` port's implementations: which region is active, and the epoch.

`SqliteRoutingControl` is the local one (one strongly consistent SQLite file shared by the
stack's processes, as Route 53 ARC's cluster); `MemoryRoutingControl` serves tests. The
HTTP client (`HttpRoutingControl`) sits with the control API it talks to, in
`mrbatch.accesspoint.control`. Contract suite: `tests/contract/test_contract_routing.py`.
"""

from mrbatch.routing.local import MemoryRoutingControl, SqliteRoutingControl

__all__ = ["MemoryRoutingControl", "SqliteRoutingControl"]
