"""Fencing: a side effect is allowed only while the epoch the work started under is current.

The routing control's epoch grows on every change of the active region. Work carries the
epoch it was started under; before each side effect (committing a chunk, the merged output,
the email, the COMPLETED record) the handler checks that its region is still the active one
*and* that the epoch has not moved. A region that lost activation, even briefly, stops: the
new active region re-drives the file under the new epoch.
"""

from __future__ import annotations

from mrbatch.errors import FencedError
from mrbatch.handlers.region import Region

__all__ = ["check_fence", "holds"]


def holds(region: Region, epoch: int) -> bool:
    """Whether `region` is active under exactly `epoch` (work of that epoch may commit)."""
    state = region.routing.state()
    return state.active_region == region.name and state.epoch == epoch


def check_fence(region: Region, epoch: int) -> None:
    """Raise FencedError unless `region` is active under exactly `epoch`."""
    state = region.routing.state()
    if state.active_region != region.name or state.epoch != epoch:
        raise FencedError(
            f"region {region.name} may not commit work of epoch {epoch}: "
            f"{state.active_region} is active under epoch {state.epoch}"
        )
