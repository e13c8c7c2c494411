"""Every implementation accepts each port method's parameters as the port declares them.

The behaviour of each port is pinned by its contract suite (test_contract_object_store,
_table, _routing, _metrics, _notifier), run against every implementation. What those
suites cannot see is a parameter they never pass: an implementation that renames
`expected_epoch`, makes a keyword-only option positional, or changes a default still passes
every call the suites make, and breaks the first caller that relies on the port's
signature. `isinstance` against a runtime-checkable Protocol only checks that the method
names exist, so this compares the signatures themselves.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from mrbatch import ports
from mrbatch.enrichment.api import HttpFinancialSource
from mrbatch.enrichment.table import TableFinancialSource
from mrbatch.metrics.local import MemoryMetrics, SqliteMetrics
from mrbatch.notify.memory import MemoryNotifier
from mrbatch.notify.smtp import SmtpNotifier
from mrbatch.pipeline.enrich import CsvFinancialSource
from mrbatch.routing.local import MemoryRoutingControl, SqliteRoutingControl
from mrbatch.state import DynamoDBTable, MemoryTable, SqliteTable
from mrbatch.storage import LocalObjectStore, MemoryObjectStore, S3ObjectStore

IMPLEMENTATIONS: dict[type, list[type]] = {
    ports.ObjectStore: [MemoryObjectStore, LocalObjectStore, S3ObjectStore],
    ports.Table: [MemoryTable, SqliteTable, DynamoDBTable],
    ports.RoutingControl: [MemoryRoutingControl, SqliteRoutingControl],
    ports.Notifier: [MemoryNotifier, SmtpNotifier],
    ports.Metrics: [MemoryMetrics, SqliteMetrics],
    ports.FinancialSource: [CsvFinancialSource, TableFinancialSource, HttpFinancialSource],
}
PAIRS = [(port, impl) for port, impls in IMPLEMENTATIONS.items() for impl in impls]

Parameter = tuple[str, Any, Any]


def _port_methods(port: type) -> list[str]:
    return [
        name for name, value in vars(port).items() if callable(value) and not name.startswith("_")
    ]


def _parameters(function: Callable[..., Any]) -> list[Parameter]:
    """(name, kind, default) of every parameter; annotations are left to mypy."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def signature_mismatches(port: type, implementation: type) -> list[str]:
    """How `implementation` departs from `port`'s method signatures (empty: it conforms).

    An implementation may add parameters after the port's, if they have defaults: every
    call written against the port still binds the same way.
    """
    problems = []
    for name in _port_methods(port):
        method = getattr(implementation, name, None)
        if method is None:
            problems.append(f"{name}: missing")
            continue
        wanted, got = _parameters(getattr(port, name)), _parameters(method)
        extra = got[len(wanted) :]
        if got[: len(wanted)] != wanted or any(d is inspect.Parameter.empty for _, _, d in extra):
            declared = inspect.signature(getattr(port, name))
            problems.append(f"{name}{inspect.signature(method)} is not {name}{declared}")
    return problems


def test_every_port_is_listed_with_its_implementations() -> None:
    declared = {
        value
        for value in vars(ports).values()
        if isinstance(value, type)
        and value.__module__ == ports.__name__
        and getattr(value, "_is_protocol", False)
    }
    assert declared == set(IMPLEMENTATIONS)


@pytest.mark.parametrize(
    ("port", "implementation"), PAIRS, ids=[f"{p.__name__}-{i.__name__}" for p, i in PAIRS]
)
def test_implementation_matches_every_method_signature_of_its_port(
    port: type, implementation: type
) -> None:
    assert _port_methods(port), f"{port.__name__} declares no method"
    assert signature_mismatches(port, implementation) == []


class _RenamedKeyword:
    def state(self) -> ports.RoutingState:
        raise NotImplementedError

    def set_active(self, region: str, reason: str, *, epoch: int | None = None) -> Any:
        raise NotImplementedError

    def history(self) -> list[ports.RoutingState]:
        raise NotImplementedError


class _ExtraRequired(_RenamedKeyword):
    def set_active(
        self, region: str, reason: str, *, expected_epoch: int | None = None, force: bool
    ) -> Any:
        raise NotImplementedError


def test_renamed_keyword_or_new_required_parameter_is_a_mismatch() -> None:
    # What `isinstance` would accept: both classes have every method name of the port.
    assert isinstance(_RenamedKeyword(), ports.RoutingControl)
    assert signature_mismatches(ports.RoutingControl, _RenamedKeyword) != []
    assert signature_mismatches(ports.RoutingControl, _ExtraRequired) != []
