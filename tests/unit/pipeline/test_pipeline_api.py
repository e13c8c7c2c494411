"""The declared public API of mrbatch.pipeline, and the examples in its docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

import mrbatch.pipeline

_MODULES = [
    "mrbatch.pipeline.split",
    "mrbatch.pipeline.records",
    "mrbatch.pipeline.rules",
    "mrbatch.pipeline.enrich",
    "mrbatch.pipeline.process",
    "mrbatch.pipeline.merge",
    "mrbatch.pipeline.parse",
    "mrbatch.pipeline.sample",
    "mrbatch.pipeline.faults",
    "mrbatch.job.runner",
    "mrbatch.notify.memory",
]


def test_every_exported_name_exists() -> None:
    assert sorted(mrbatch.pipeline.__all__) == sorted(set(mrbatch.pipeline.__all__))
    for name in mrbatch.pipeline.__all__:
        assert hasattr(mrbatch.pipeline, name), name


@pytest.mark.parametrize("name", _MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0
