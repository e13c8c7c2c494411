"""Shared fixtures for the pipeline tests: a small financial source and the default rules."""

from __future__ import annotations

import pytest

from mrbatch.pipeline import CsvFinancialSource, Rules, load_rules

from .pipeline_samples import FINANCIALS


@pytest.fixture(scope="session")
def rules() -> Rules:
    return load_rules()


@pytest.fixture(scope="session")
def financials() -> CsvFinancialSource:
    return CsvFinancialSource.from_bytes(FINANCIALS, file="fin.csv")
