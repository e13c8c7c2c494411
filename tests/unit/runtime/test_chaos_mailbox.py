"""The checker and the load test read each email's idempotency key as sent, even when the
mail sink's message folds the header (a key longer than one header line, e.g. a long file
name): a folded key once read as " input/..." and every such file counted 0 emails."""

from __future__ import annotations

from pathlib import Path

from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.audit import collect
from mrbatch.runtime.operations.loadtest import email_arrivals

KEY = "input/loadtest-20261202-073045-00000.csv#97cd193bb9ce494da2eae07909991992"


def test_a_folded_idempotency_key_is_read_unfolded(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path / "stack")
    config.save()
    config.mail_dir.mkdir(parents=True)
    message = f"From: a@example.com\nX-Mrbatch-Idempotency-Key:\n {KEY}\n\nThe file.\n"
    (config.mail_dir / "00000000001700000000-abcdef01.eml").write_text(message)
    assert [e.key for e in collect(config, fetch_links=False).emails] == [KEY]
    assert email_arrivals(config) == {KEY: 1.7}
