"""The output of a local job, assembled as its batches finish: each batch's output part and
errors part are appended in batch order to temporary files, made durable and renamed onto
the targets at the end (`commit`), so a failed job leaves nothing behind.

Example (`task` has the batch's `number` and the paths of its two parts):
    >>> with PartMerger(work, b"a,b\\n", target, errors_target) as merger:  # doctest: +SKIP
    ...     merger.done(task)  # appended now, or once the batches before it are done
    ...     merger.commit()
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import BinaryIO, Protocol

from mrbatch.pipeline.merge import ERRORS_HEADER

__all__ = ["Part", "PartMerger"]


class Part(Protocol):
    """A finished batch: its position in the file and where its two parts are."""

    @property
    def number(self) -> int: ...

    @property
    def output(self) -> str: ...

    @property
    def errors(self) -> str: ...


class PartMerger:
    """Appends the parts of finished batches to the output and the errors report in batch
    order as soon as they can go, so concatenating overlaps with processing; `commit`
    makes both durable and moves them into place. Leaving without commit leaves nothing.
    """

    def __init__(self, work: Path, header: bytes, target: Path, errors_target: Path) -> None:
        self._targets = [target, errors_target]
        self._temporaries = [work / f"{target.name}.tmp", work / f"{errors_target.name}.tmp"]
        self._files: list[BinaryIO] = []
        for path, head in zip(self._temporaries, [header, ERRORS_HEADER], strict=True):
            self._files.append(path.open("wb", buffering=0))
            self._files[-1].write(head)
        self._finished: dict[int, Part] = {}
        self._next = 0

    def __enter__(self) -> PartMerger:
        return self

    def __exit__(self, *_: object) -> None:
        for stream in self._files:
            stream.close()

    def done(self, task: Part) -> None:
        """Note that `task` finished; append every part that is now next in order."""
        self._finished[task.number] = task
        while self._next in self._finished:
            ready = self._finished.pop(self._next)
            for part, stream in zip([ready.output, ready.errors], self._files, strict=True):
                with open(part, "rb", buffering=0) as source:
                    _copy(source, stream)
                os.unlink(part)
            self._next += 1

    def commit(self) -> None:
        """Make both files durable (fsync) and rename them onto their targets."""
        for stream in self._files:
            os.fsync(stream.fileno())
            stream.close()
        for temporary, target in zip(self._temporaries, self._targets, strict=True):
            os.replace(temporary, target)


def _copy(source: BinaryIO, target: BinaryIO) -> None:
    """Append unbuffered `source` to unbuffered `target`, copied by the kernel if it can."""
    remaining = os.fstat(source.fileno()).st_size
    while remaining > 0:
        try:
            copied = os.copy_file_range(source.fileno(), target.fileno(), remaining)
        except OSError as exc:
            if exc.errno not in _NO_COPY_RANGE or source.tell() != 0:
                raise
            shutil.copyfileobj(source, target, 1 << 20)  # through this process instead
            return
        if copied == 0:
            return
        remaining -= copied


# copy_file_range fails with these when the file systems or the kernel cannot do it.
_NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}
