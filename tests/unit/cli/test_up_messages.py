"""What `mrbatch up` says about financial data once the stack is up: a loud warning when
none is loaded or coming, a plain note while `--financials` still loads in the background."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mrbatch.cli.stack_commands import _warn_without_financials
from mrbatch.runtime.config import StackConfig


def test_no_financial_data_and_none_configured_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _warn_without_financials(StackConfig(data_dir=tmp_path))
    out = capsys.readouterr().out
    assert "WARNING: no financial data is loaded in us-east-1" in out
    assert "mrbatch financials load FILE" in out


def test_a_configured_load_still_running_is_a_note_not_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = replace(StackConfig(data_dir=tmp_path), extra={"financials": "/data/fin.csv"})
    _warn_without_financials(config)
    out = capsys.readouterr().out
    assert "WARNING" not in out
    assert "financial data from /data/fin.csv is loading into us-east-1 in the background" in out
