"""The supervision loop's decisions, driven by a scripted process manager and a manual
clock: a failed restart is retried with backoff and never touches the other services, a
child that never reports ready is killed after the ready timeout, and `stack.json` says
what each service is doing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.services.supervision import RestartPolicy, Supervision
from mrbatch.runtime.services.supervisor import Probe, Readiness

STARTED = Probe(Readiness.STARTING)  # running, ready file not written yet


class ScriptedProcesses:
    """Services whose next start-ups are scripted: each respawn of a name takes the next
    probe from its script (the last one repeats)."""

    def __init__(self, names: list[str]) -> None:
        self.current = dict.fromkeys(names, STARTED)
        self.scripts: dict[str, list[Probe]] = {}
        self.respawned: list[str] = []
        self.killed: list[str] = []
        self.cannot_spawn: set[str] = set()
        self._pids = {name: 100 + i for i, name in enumerate(names)}

    def pids(self) -> dict[str, int]:
        return dict(self._pids)

    def probe(self, name: str) -> Probe:
        return self.current[name]

    def respawn(self, name: str) -> int:
        self.respawned.append(name)
        if name in self.cannot_spawn:
            raise OSError(11, "Resource temporarily unavailable")
        script = self.scripts.get(name, [])
        self.current[name] = script.pop(0) if len(script) > 1 else script[0]
        self._pids[name] += 1000
        return self._pids[name]

    def kill(self, name: str) -> None:
        self.killed.append(name)
        self.current[name] = Probe(Readiness.EXITED, exit_code=-9)

    def last_log_line(self, name: str) -> str:
        return "MrBatchError: cannot listen on 127.0.0.1:8080: [Errno 98] Address already in use"

    def stop(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _supervision(tmp_path: Path, processes: ScriptedProcesses, clock: Clock) -> Supervision:
    config = StackConfig(data_dir=tmp_path)
    record = {"regions": {"us-east-1": {"pid": 101}, "us-west-2": {"pid": 102}}}
    policy = RestartPolicy(first_delay=0.5, max_delay=4.0, ready_timeout=60.0)
    return Supervision(config, processes, record, policy=policy, clock=clock)


def _published(tmp_path: Path) -> dict[str, dict[str, object]]:
    services: dict[str, dict[str, object]] = json.loads((tmp_path / "stack.json").read_text())[
        "services"
    ]
    return services


EXITED = Probe(Readiness.EXITED, exit_code=1)
READY = Probe(Readiness.READY, record={"pid": 5, "url": "http://127.0.0.1:8080"})


@pytest.mark.parametrize(
    ("failures", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (50, 4.0)]
)
def test_restart_delay_doubles_up_to_the_cap_when_restarts_keep_failing(
    failures: int, delay: float
) -> None:
    policy = RestartPolicy(first_delay=0.5, max_delay=4.0)
    assert policy.delay(failures) == delay


def test_failed_restart_is_retried_with_backoff_and_leaves_others_alone(tmp_path: Path) -> None:
    processes = ScriptedProcesses(["mail", "gateway", "us-east-1"])
    processes.scripts["gateway"] = [EXITED, EXITED, STARTED]
    clock = Clock()
    supervision = _supervision(tmp_path, processes, clock)
    processes.current["gateway"] = Probe(Readiness.EXITED, exit_code=-9)  # SIGKILLed

    supervision.tick()  # a crash after running: restarted at once; that start fails
    supervision.tick()
    assert processes.respawned == ["gateway"]
    gateway = _published(tmp_path)["gateway"]
    assert (gateway["state"], gateway["failures"]) == ("failing", 1)
    assert "Address already in use" in str(gateway["last_error"])

    clock.now += 0.4
    supervision.tick()  # before the 0.5 s backoff: no attempt
    assert processes.respawned == ["gateway"]
    clock.now += 0.1
    supervision.tick()  # second attempt, fails again: the wait doubles
    supervision.tick()
    assert processes.respawned == ["gateway", "gateway"]
    assert _published(tmp_path)["gateway"]["failures"] == 2
    clock.now += 0.9
    supervision.tick()
    assert processes.respawned == ["gateway", "gateway"]
    clock.now += 0.1
    supervision.tick()  # third attempt starts, then reports ready
    assert _published(tmp_path)["gateway"]["state"] == "starting"
    processes.current["gateway"] = READY
    supervision.tick()

    services = _published(tmp_path)
    assert (services["gateway"]["state"], services["gateway"]["failures"]) == ("running", 0)
    assert services["gateway"]["restarts"] == 3
    assert {services[n]["state"] for n in ("mail", "us-east-1")} == {"running"}
    assert processes.respawned == ["gateway"] * 3 and processes.killed == []


def test_restart_not_ready_within_the_timeout_is_killed_and_retried(tmp_path: Path) -> None:
    processes = ScriptedProcesses(["replicator", "us-west-2"])
    processes.scripts["replicator"] = [STARTED, STARTED]
    clock = Clock()
    supervision = _supervision(tmp_path, processes, clock)
    processes.current["replicator"] = EXITED

    supervision.tick()
    clock.now += 59.9
    supervision.tick()
    assert processes.killed == []
    clock.now += 0.2
    supervision.tick()
    assert processes.killed == ["replicator"]
    replicator = _published(tmp_path)["replicator"]
    assert replicator["state"] == "failing"
    assert str(replicator["last_error"]).startswith("not ready within 60 s")
    clock.now += 0.5
    supervision.tick()
    assert processes.respawned == ["replicator", "replicator"]
    processes.current["replicator"] = READY
    supervision.tick()
    assert _published(tmp_path)["replicator"]["state"] == "running"
    assert _published(tmp_path)["us-west-2"]["state"] == "running"


def test_service_that_cannot_be_spawned_is_retried_and_leaves_others_alone(
    tmp_path: Path,
) -> None:
    processes = ScriptedProcesses(["mail", "gateway"])
    processes.scripts["mail"] = [READY]
    processes.cannot_spawn.add("mail")
    clock = Clock()
    supervision = _supervision(tmp_path, processes, clock)
    processes.current["mail"] = EXITED

    supervision.tick()

    services = _published(tmp_path)
    assert services["mail"]["state"] == "failing"
    assert "Resource temporarily unavailable" in str(services["mail"]["last_error"])
    assert services["gateway"]["state"] == "running"
    processes.cannot_spawn.clear()
    clock.now += 0.5
    supervision.tick()
    supervision.tick()
    assert _published(tmp_path)["mail"]["state"] == "running"
