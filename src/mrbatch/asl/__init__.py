"""The local Amazon States Language engine: run AWS Step Functions definitions durably.

>>> from mrbatch.asl import Engine, ResourceRegistry
>>> registry = ResourceRegistry()
>>> registry.register_function("double", lambda event: event * 2, in_process=True)

Then `Engine(db_path, resources=registry)`, `create_state_machine(name, definition)`,
`start_execution(arn, input)`, `wait_for(arn)`; see `mrbatch.asl.engine`.
"""

from mrbatch.asl.definition import StateMachineDefinition
from mrbatch.asl.engine import (
    DEFAULT_DB_PATH,
    Engine,
    EngineClosedError,
    ExecutionAlreadyExistsError,
    ExecutionDoesNotExistError,
    ExecutionWaitTimeoutError,
    StateMachineDoesNotExistError,
)
from mrbatch.asl.errors import DefinitionError, StatesError
from mrbatch.asl.loader import load_definition, load_definition_file, substitute
from mrbatch.asl.mock import MockConfig, MockConfigError
from mrbatch.asl.resources import ExecutionHost, Integration, ResourceRegistry, TaskCall
from mrbatch.asl.store import ExecutionRecord, ExecutionStatus, HistoryEvent, Store, StoreError

__all__ = [
    "DEFAULT_DB_PATH",
    "DefinitionError",
    "Engine",
    "EngineClosedError",
    "ExecutionAlreadyExistsError",
    "ExecutionDoesNotExistError",
    "ExecutionHost",
    "ExecutionRecord",
    "ExecutionStatus",
    "ExecutionWaitTimeoutError",
    "HistoryEvent",
    "Integration",
    "MockConfig",
    "MockConfigError",
    "ResourceRegistry",
    "StateMachineDefinition",
    "StateMachineDoesNotExistError",
    "StatesError",
    "Store",
    "StoreError",
    "TaskCall",
    "load_definition",
    "load_definition_file",
    "substitute",
]
