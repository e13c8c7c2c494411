"""The per-record chunk processor's chunk size is capped so it stays under AWS's quota of
25,000 events per execution history (the engine enforces it, as AWS does); the batched
processor, the stack's, has no such cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrbatch.errors import ConfigError
from mrbatch.handlers.per_record import HISTORY_EVENTS_PER_RECORD, MAX_CHUNK_SIZE
from mrbatch.runtime.config import STACK_CHUNK_SIZE, StackConfig


def test_chunk_size_above_the_history_quota_is_refused_for_the_per_record_processor(
    sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    """AWS quota: "Maximum execution history size: 25,000 events in a single state machine
    execution history"; the per-record processor writes about 14 events per row."""
    from mrbatch.runtime.operations.local_run import LocalRun

    _source, fin = sample_300
    with pytest.raises(ConfigError, match="25,000 history events") as raised:
        LocalRun(tmp_path / "r", fin, chunk_size=MAX_CHUNK_SIZE + 1, per_record=True)
    assert f"at most {MAX_CHUNK_SIZE:,}" in str(raised.value)
    assert "per-record" in str(raised.value)


def test_stack_chunk_size_is_not_capped_by_the_per_record_quota(tmp_path: Path) -> None:
    """The stack runs the batched processor, a few history events per chunk of any size."""
    assert StackConfig(tmp_path).chunk_size == STACK_CHUNK_SIZE > MAX_CHUNK_SIZE
    assert StackConfig(tmp_path, chunk_size=1_000_000).chunk_size == 1_000_000


def test_the_cap_keeps_a_full_chunk_under_the_quota() -> None:
    assert MAX_CHUNK_SIZE * HISTORY_EVENTS_PER_RECORD + 100 <= 25_000
    assert MAX_CHUNK_SIZE >= 1000  # the per-record processor's usual chunk size stays allowed


def test_per_record_history_stays_under_the_bound_per_record(
    sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    """The bound is measured, not guessed: a per-record chunk of 100 rows (some invalid,
    some not enriched) writes fewer than HISTORY_EVENTS_PER_RECORD events per row."""
    from mrbatch.runtime.operations.local_run import LocalRun

    _source, fin = sample_300
    source, _fin = sample_300
    with LocalRun(tmp_path / "r", fin, chunk_size=100, per_record=True) as run:
        assert run.process(source).status == "SUCCEEDED"
        sizes = [
            len(run.engine.get_execution_history(r.arn))
            for r in run.engine.list_executions("chunk_processor")
        ]
    assert len(sizes) == 3 and max(sizes) < 100 * HISTORY_EVENTS_PER_RECORD
