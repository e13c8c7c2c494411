"""The declared public API of mrbatch.pipeline, and the examples in its docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

import mrbatch.pipeline

_MODULES = ["split", "records", "rules", "enrich", "process", "merge", "parse", "job", "sample"]


def test_every_exported_name_exists() -> None:
    assert sorted(mrbatch.pipeline.__all__) == sorted(set(mrbatch.pipeline.__all__))
    for name in mrbatch.pipeline.__all__:
        assert hasattr(mrbatch.pipeline, name), name


@pytest.mark.parametrize("name", _MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"mrbatch.pipeline.{name}")
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0
