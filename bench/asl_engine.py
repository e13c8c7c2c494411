"""Benchmark the ASL engine: per-transition overhead and a 10,000-item Map of Pass states.

    .venv/bin/python bench/asl_engine.py

Each workload runs twice in this process: with the durable SQLite history (the product
setting, a file in a temporary directory) and with the database in memory (`:memory:`), the
baseline that shows what durability costs. Targets: < 200 us per transition durable,
10,000-item Map < 5 s.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from mrbatch.asl import Engine

CHAIN = 1000
INLINE_ITEMS = 6_000
"""An inline Map writes 4 events per item (iteration started/succeeded, Pass entered/exited);
AWS fails an execution at 25,000 history events, so 10,000 inline items cannot succeed there
(or here). The 10,000-item target belongs to the Distributed Map, whose items run as child
executions with their own histories."""


def _chain() -> dict[str, object]:
    states: dict[str, object] = {
        f"S{i}": {"Type": "Pass", "Result": i, "ResultPath": "$.last", "Next": f"S{i + 1}"}
        for i in range(CHAIN)
    }
    states[f"S{CHAIN}"] = {"Type": "Succeed"}
    return {"StartAt": "S0", "States": states}


MAP = {
    "StartAt": "M",
    "States": {
        "M": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "End": True,
        }
    },
}


DISTRIBUTED_ITEMS = 10_000
DISTRIBUTED = {
    "StartAt": "M",
    "States": {
        "M": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemBatcher": {"MaxItemsPerBatch": 100},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "P",
                "States": {"P": {"Type": "Pass", "End": True}},
            },
            "ResultSelector": {"batches.$": "States.ArrayLength($)"},
            "End": True,
        }
    },
}
"""10,000 items in 100 child executions of 100 items each (their own histories)."""


def _timed(db: str, definition: Mapping[str, object], data: object) -> float:
    with Engine(db) as engine:
        arn = engine.create_state_machine("bench", definition)
        start = time.perf_counter()
        done = engine.wait_for(engine.start_execution(arn, data), timeout=600)
        elapsed = time.perf_counter() - start
        assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for label, db in (
            ("durable (SQLite WAL file)", str(Path(tmp) / "b.db")),
            ("baseline (SQLite :memory:)", ":memory:"),
        ):
            chain = _timed(db, _chain(), {})
            items = _timed(db, MAP, {"items": list(range(INLINE_ITEMS))})
            dist = _timed(db, DISTRIBUTED, {"items": list(range(DISTRIBUTED_ITEMS))})
            rows.append((label, chain / (CHAIN + 1) * 1e6, items, dist))
    print(
        f"{'history':28} {'us/transition':>14} {f'{INLINE_ITEMS}-item Map (s)':>17} "
        f"{f'{DISTRIBUTED_ITEMS}-item distributed (s)':>26}"
    )
    for label, per, items, dist in rows:
        print(f"{label:28} {per:14.1f} {items:17.2f} {dist:26.2f}")
    print(
        f"targets: < 200 us per transition (durable); {INLINE_ITEMS}-item inline Map < 3 s; "
        f"{DISTRIBUTED_ITEMS}-item Distributed Map batched by 100 < 5 s"
    )


if __name__ == "__main__":
    main()
