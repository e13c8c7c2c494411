"""A fresh real stack per test: each failover test moves activation and leaves it moved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stacktools import Stack, running_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path / "stack") as running:
        yield running
