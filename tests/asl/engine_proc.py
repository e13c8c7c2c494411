"""A real engine process for the kill-and-restart test: `start` or `resume` one execution.

    python engine_proc.py start|resume DB LOG

`start` creates the state machine, starts the execution and waits (the test SIGKILLs it);
`resume` opens a new Engine over the same file, which resumes RUNNING executions, waits for
the execution and prints its output as JSON.
"""

from __future__ import annotations

import json
import sys

import asl_tasks

from mrbatch.asl import Engine, ResourceRegistry

DEFINITION = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "ItemSelector": {"item.$": "$$.Map.Item.Value", "log.$": "$.log", "work": 0.05},
            "ItemProcessor": {
                "StartAt": "Work",
                "States": {
                    "Work": {
                        "Type": "Task",
                        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:record",
                        "ResultSelector": {"double.$": "$.double"},
                        "End": True,
                    }
                },
            },
            "Next": "Done",
        },
        "Done": {"Type": "Pass", "Parameters": {"results.$": "$"}, "End": True},
    },
}
ITEMS = 20


def main(mode: str, db: str, log: str) -> None:
    registry = ResourceRegistry()
    registry.register_function("record", asl_tasks.record)
    with Engine(db, resources=registry) as engine:
        arn = engine.create_state_machine("killme", DEFINITION)
        execution = engine.start_execution(
            arn, {"items": list(range(ITEMS)), "log": log}, name="run-1"
        )
        done = engine.wait_for(execution, timeout=120)
        print(json.dumps({"status": done.status.value, "output": done.output}), flush=True)
        del mode


if __name__ == "__main__":
    main(*sys.argv[1:4])
