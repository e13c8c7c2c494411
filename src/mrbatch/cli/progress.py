"""A plain progress line for long transfers, redrawn in place on a terminal.

Only for a person watching: the commands use it when standard output is a terminal and
`--json` is not given, and print one final line otherwise, so logs and scripts never see
carriage returns. Callbacks may come from several threads (boto3's transfer manager).

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> ticks = iter([0.0, 2.0])
    >>> line = ByteProgress(out, total=2 * 1024**2, label="big.csv", clock=lambda: next(ticks))
    >>> line.add(1024**2)
    >>> [frame.strip() for frame in out.getvalue().split("\\r") if frame]
    ['big.csv    0.0 MiB / 2.0 MiB    0%', 'big.csv    1.0 MiB / 2.0 MiB   50%  0.5 MiB/s']
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ByteProgress"]

_MIB = 1024**2


class ByteProgress:
    """`label  sent / total  percent  rate`, redrawn at most every `every` seconds."""

    def __init__(
        self,
        out: TextIO,
        *,
        total: int,
        label: str,
        every: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out, self._total, self._label = out, total, label
        self._every, self._clock = every, clock
        self._started = self._drawn_at = clock()
        self._sent = 0
        self._width = 0
        self._lock = threading.Lock()
        self._draw(self._started)  # at once: the transfer has started, however fast it is

    def add(self, sent: int) -> None:
        """Count `sent` more bytes; redraw when the last drawing is old enough."""
        with self._lock:
            self._sent += sent
            now = self._clock()
            if now - self._drawn_at >= self._every or self._sent >= self._total:
                self._draw(now)

    def _draw(self, now: float) -> None:
        percent = 100 * self._sent // self._total if self._total else 100
        sent, total = self._sent / _MIB, self._total / _MIB
        text = f"{self._label}  {sent:5.1f} MiB / {total:.1f} MiB  {percent:3d}%"
        elapsed = now - self._started
        if elapsed > 0 and self._sent:
            text += f"  {self._sent / _MIB / elapsed:.1f} MiB/s"
        self._out.write("\r" + text.ljust(self._width))
        self._out.flush()
        self._width, self._drawn_at = len(text), now

    def finish(self) -> None:
        """Erase the line, so the command's final line takes its place."""
        with self._lock:
            self._out.write("\r" + " " * self._width + "\r")
            self._out.flush()
