"""SqliteRoutingControl across processes: one durable answer, no epoch ever given twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from mrbatch.routing.local import SqliteRoutingControl

REGIONS = ("us-east-1", "us-west-2")

WORKER = textwrap.dedent(
    """
    import sys
    from mrbatch.errors import ConditionFailedError
    from mrbatch.routing.local import SqliteRoutingControl

    control = SqliteRoutingControl(sys.argv[1], ("us-east-1", "us-west-2"))
    flips = 0
    while flips < 10:
        state = control.state()
        target = "us-west-2" if state.active_region == "us-east-1" else "us-east-1"
        try:
            control.set_active(target, sys.argv[2], expected_epoch=state.epoch)
            flips += 1
        except ConditionFailedError:
            pass
    control.close()
    """
)


def test_processes_flipping_with_cas_get_consecutive_alternating_epochs(tmp_path: Path) -> None:
    path = tmp_path / "routing.db"
    SqliteRoutingControl(path, REGIONS).close()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), f"p{n}"]) for n in range(3)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    control = SqliteRoutingControl(path, REGIONS)
    history = control.history()
    assert [s.epoch for s in history] == list(range(1, 32))
    # every CAS flip saw the state it replaced, so regions strictly alternate
    assert [s.active_region for s in history] == [REGIONS[n % 2] for n in range(31)]
    assert sorted({s.reason for s in history[1:]}) == ["p0", "p1", "p2"]
    control.close()


def test_a_change_is_visible_at_once_to_another_opener(tmp_path: Path) -> None:
    first = SqliteRoutingControl(tmp_path / "r.db", REGIONS)
    second = SqliteRoutingControl(tmp_path / "r.db", REGIONS, initial_region="us-west-2")
    assert second.state().active_region == "us-east-1"  # the first opener's initial state
    first.set_active("us-west-2", "failover")
    assert (second.state().active_region, second.state().epoch) == ("us-west-2", 2)
    first.close()
    second.close()
