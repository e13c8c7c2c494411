"""Shared fixtures of the workflow tests: generated sample files and the repo's real sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrbatch.pipeline.sample import write_sample_files


@pytest.fixture(scope="session")
def sample_300(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """300 generated rows, 10 % of them invalid (some not enriched), and their financials."""
    out = tmp_path_factory.mktemp("sample300")
    return write_sample_files(out, "orders", 300, 7, 0.1)


@pytest.fixture(scope="session")
def sample_3000(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("sample3000")
    return write_sample_files(out, "big", 3000, 11, 0.05)
