"""Mocked task responses in the AWS Step Functions Local MockConfigFile format.

```json
{"StateMachines": {"Orchestrator": {"TestCases": {"HappyPath": {"Split": "SplitOk"}}}},
 "MockedResponses": {"SplitOk": {"0": {"Return": {"chunks": 2}}},
                     "Flaky": {"0-1": {"Throw": {"Error": "Lambda.TooManyRequestsException",
                                                  "Cause": "slow down"}},
                               "2": {"Return": {"ok": true}}}}}
```

For the selected state machine and test case, each Task state named in the test case answers
from its mocked response: invocation n (counted per execution and state, from 0, retries and
Map iterations included) uses the entry whose key ("n" or "a-b") contains n. An invocation
that no entry covers fails the execution with States.Runtime naming the state and the
invocation, as Step Functions Local does ("you must specify a mocked response for every
invocation"): an incomplete mock file must not pass by repeating its last answer. Other
states call their registered resources.

>>> mock = MockConfig.from_json({"StateMachines": {"M": {"TestCases": {"T": {"A": "R"}}}},
...     "MockedResponses": {"R": {"0": {"Return": 1}, "1-2": {"Return": 2}}}}, "M", "T")
>>> [mock.respond("M", "e", "A") for _ in range(3)]
[1, 2, 2]
>>> mock.respond("M", "e", "A")
Traceback (most recent call last):
...
mrbatch.asl.errors.StatesError: States.Runtime: no mocked response for invocation 3 of state 'A' ...
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import RUNTIME, StatesError
from mrbatch.errors import MrBatchError

__all__ = ["MockConfig", "MockConfigError"]


class MockConfigError(MrBatchError):
    """The mock config file is unreadable or not in the MockConfigFile format."""


class MockConfig:
    """The mocked responses of one test case of one state machine."""

    def __init__(self, state_machine: str, responses: dict[str, list[tuple[int, int, Any]]]):
        self.state_machine = state_machine
        self._responses = responses
        self._calls: Counter[tuple[str, str]] = Counter()

    @classmethod
    def from_file(cls, path: str | Path, state_machine: str | None, test_case: str) -> MockConfig:
        """Load a MockConfigFile; `state_machine` may be None when the file has only one."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MockConfigError(f"cannot read mock config {path}: {exc}") from exc
        return cls.from_json(raw, state_machine, test_case)

    @classmethod
    def from_json(cls, raw: Any, state_machine: str | None, test_case: str) -> MockConfig:
        """Build from the parsed file."""
        machines = raw.get("StateMachines") if isinstance(raw, dict) else None
        if not isinstance(machines, dict) or not machines:
            raise MockConfigError("mock config: StateMachines is missing or empty")
        if state_machine is None or state_machine not in machines:
            if len(machines) != 1:
                raise MockConfigError(
                    f"mock config: no state machine {state_machine!r} "
                    f"(has {', '.join(sorted(machines))})"
                )
            state_machine = next(iter(machines))
        cases = (machines[state_machine] or {}).get("TestCases", {})
        if test_case not in cases:
            raise MockConfigError(
                f"mock config: state machine {state_machine!r} has no test "
                f"case {test_case!r} (has {', '.join(sorted(cases))})"
            )
        mocked = raw.get("MockedResponses", {})
        responses = {state: _entries(mocked, name) for state, name in cases[test_case].items()}
        return cls(state_machine, responses)

    def respond(self, state_machine: str, execution_arn: str, state: str) -> JsonValue | None:
        """The mocked result for the next invocation of `state` (None: not mocked). The
        child executions of a Distributed Map (state machine `<machine>/<label>`) share their
        parent's test case, as the states of an inline Map do."""
        entries = self._responses.get(state)
        mine = state_machine.split("/", 1)[0] == self.state_machine
        if entries is None or not mine:
            return None
        n = self._calls[(execution_arn, state)]
        self._calls[(execution_arn, state)] += 1
        entry = next((e for lo, hi, e in entries if lo <= n <= hi), None)
        if entry is None:
            raise StatesError(
                RUNTIME,
                f"no mocked response for invocation {n} of state {state!r} (counted from 0) "
                f"in the mock config of {state_machine!r}: you must specify a mocked response "
                "for every invocation",
            )
        if "Throw" in entry:
            throw = entry["Throw"]
            raise StatesError(str(throw.get("Error", "")), str(throw.get("Cause", "")))
        return entry["Return"]


def _entries(mocked: Mapping[str, Any], name: str) -> list[tuple[int, int, Any]]:
    response = mocked.get(name)
    if not isinstance(response, dict) or not response:
        raise MockConfigError(f"mock config: no MockedResponses entry {name!r}")
    entries = []
    for key, entry in response.items():
        lo, _, hi = str(key).partition("-")
        try:
            bounds = (int(lo), int(hi or lo))
        except ValueError:
            raise MockConfigError(f"mock config: {name}: bad invocation key {key!r}") from None
        if not isinstance(entry, dict) or len({"Return", "Throw"} & set(entry)) != 1:
            raise MockConfigError(f"mock config: {name}[{key}] needs one of Return or Throw")
        entries.append((*bounds, entry))
    return sorted(entries, key=lambda e: e[0])
