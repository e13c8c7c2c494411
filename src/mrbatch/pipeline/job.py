"""The local job behind `mrbatch process`: split into chunk files, process them on a pool of
worker processes, merge, and write the output and the errors report atomically.

This is the one module of the pipeline that touches the file system and processes; the
workflow handlers of the two-region runtime call the pure functions (`split`,
`process_chunk`, `merge`) themselves, against an object store.

Files: chunks live in a private work directory inside the output directory; the output and
the errors report are written to temporary names there and renamed into place only when
the whole file succeeded, so a failed file leaves nothing behind.

Example:
    >>> summary = run_job("in.csv", "fin.csv", "out")  # doctest: +SKIP
    >>> summary.rows_written  # doctest: +SKIP
    10000
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mrbatch.errors import ConfigError, InputFileError
from mrbatch.pipeline.enrich import CsvFinancialSource
from mrbatch.pipeline.merge import ERRORS_HEADER, errors_csv, merge
from mrbatch.pipeline.process import output_header, process_chunks
from mrbatch.pipeline.rules import Rules, load_rules
from mrbatch.pipeline.split import (
    DEFAULT_CHUNK_SIZE,
    chunk_count,
    chunk_name,
    count_records,
    read_header,
    split,
)

__all__ = ["JobOptions", "JobSummary", "Progress", "run_job"]

# Rows a worker gets per call: enough to spread the fixed cost of each vectorised step.
_ROWS_PER_TASK = 20_000

# Called after each batch of chunks with (chunks done, chunks in total, rows read so far).
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class JobOptions:
    """How to run a job; `workers=None` means one per CPU, 1 means in this process."""

    chunk_size: int = DEFAULT_CHUNK_SIZE
    workers: int | None = None
    schema: Path | None = None
    delimiter: str = ","


@dataclass(frozen=True)
class JobSummary:
    """What a finished job did (printed by the CLI, as JSON with `--json`)."""

    input: str
    output: str
    errors: str
    rows_read: int
    rows_written: int
    rows_invalid: int
    rows_not_enriched: int
    chunks: int
    seconds: float
    rows_per_second: float = field(init=False)

    def __post_init__(self) -> None:
        rate = self.rows_read / self.seconds if self.seconds > 0 else 0.0
        object.__setattr__(self, "rows_per_second", round(rate, 1))

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready values."""
        return asdict(self)


@dataclass(frozen=True)
class _ChunkFiles:
    chunk: Path
    output: Path
    errors: Path
    first_row: int


@dataclass(frozen=True)
class _Task:
    """A batch of chunk files for one worker call (see `process_chunks`)."""

    chunks: list[_ChunkFiles]
    file: str
    financials: str
    schema: str | None
    delimiter: str


@dataclass(frozen=True)
class _Counts:
    read: int
    written: int
    invalid: int
    not_enriched: int


def run_job(
    input_path: str | Path,
    financials_path: str | Path,
    out_dir: str | Path,
    *,
    options: JobOptions = JobOptions(),
    progress: Progress | None = None,
) -> JobSummary:
    """Process `input_path` into `out_dir`/<stem>.csv and <stem>.errors.csv.

    Raises InputFileError (naming the file) when the input or the financial data cannot be
    used as a whole, ConfigError for bad options; in both cases nothing is written.
    """
    started = time.perf_counter()
    source, out = Path(input_path), Path(out_dir)
    _check_options(options, source, out)
    rules = load_rules(options.schema)
    total = chunk_count(_check_input(source, rules, options.delimiter), options.chunk_size)
    _check_financials_header(Path(financials_path))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output directory {out}: {exc.strerror}") from exc
    target = out / f"{source.stem}.csv"
    errors_target = out / f"{source.stem}.errors.csv"
    with _work_dir(out, source.stem) as work:
        counts = _run_chunks(source, Path(financials_path), work, total, options, progress)
        with source.open("rb") as stream:
            columns = read_header(stream, file=str(source), delimiter=options.delimiter).columns
        header = output_header(columns)
        _merge_into(sorted((work / "out").iterdir()), target, work, header)
        _merge_into(sorted((work / "err").iterdir()), errors_target, work, ERRORS_HEADER)
    return JobSummary(
        input=str(source),
        output=str(target),
        errors=str(errors_target),
        rows_read=sum(c.read for c in counts),
        rows_written=sum(c.written for c in counts),
        rows_invalid=sum(c.invalid for c in counts),
        rows_not_enriched=sum(c.not_enriched for c in counts),
        chunks=total,
        seconds=round(time.perf_counter() - started, 3),
    )


def _check_options(options: JobOptions, source: Path, out: Path) -> None:
    if options.chunk_size < 1:
        raise ConfigError("--chunk-size must be at least 1")
    if options.workers is not None and options.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if len(options.delimiter) != 1 or options.delimiter in '"\r\n':
        raise ConfigError("the delimiter must be one character other than a quote or line end")
    if (out / f"{source.stem}.csv").resolve() == source.resolve():
        raise ConfigError(f"the output would overwrite the input {source}")


def _check_input(source: Path, rules: Rules, delimiter: str) -> int:
    """Refuse a bad input file before anything is written; return its record count."""
    try:
        with source.open("rb") as stream:
            header = read_header(stream, file=str(source), delimiter=delimiter)
            rules.check_header(header.columns, file=str(source))
            stream.seek(0)
            return count_records(stream, file=str(source))
    except OSError as exc:
        raise InputFileError(str(source), f"cannot be read: {exc.strerror or exc}") from exc


def _check_financials_header(path: Path) -> None:
    try:
        with path.open("rb") as stream:
            read_header(stream, file=str(path))
    except OSError as exc:
        raise InputFileError(str(path), f"cannot be read: {exc.strerror or exc}") from exc


@contextmanager
def _work_dir(out: Path, stem: str) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=f".{stem}.work-", dir=out))
    try:
        for sub in ("in", "out", "err"):
            (work / sub).mkdir()
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_chunks(
    source: Path,
    financials: Path,
    work: Path,
    total: int,
    options: JobOptions,
    progress: Progress | None,
) -> list[_Counts]:
    """Split `source` into chunk files and process them in batches on the pool."""
    workers = options.workers or os.cpu_count() or 1
    schema = None if options.schema is None else str(options.schema)
    per_task = max(1, _ROWS_PER_TASK // options.chunk_size)
    results: list[_Counts] = []
    with source.open("rb") as stream, _executor(workers) as pool:
        pending: set[Future[list[_Counts]]] = set()
        batch: list[_ChunkFiles] = []
        for chunk in split(stream, chunk_size=options.chunk_size, file=str(source)):
            name = chunk_name(chunk.index, total)
            (work / "in" / name).write_bytes(chunk.data)
            batch.append(_ChunkFiles(work / "in" / name, work / "out" / name,
                                     work / "err" / name, chunk.first_row))  # fmt: skip
            if len(batch) == per_task or chunk.index == total:
                task = _Task(batch, str(source), str(financials), schema, options.delimiter)
                pending.add(pool.submit(_run_task, task))
                batch = []
            while len(pending) >= 2 * workers:
                pending = _collect(pending, results, total, progress)
        while pending:
            pending = _collect(pending, results, total, progress)
    return results


def _collect(
    pending: set[Future[list[_Counts]]],
    results: list[_Counts],
    total: int,
    progress: Progress | None,
) -> set[Future[list[_Counts]]]:
    done, rest = wait(pending, return_when=FIRST_COMPLETED)
    for future in done:
        results.extend(future.result())
        if progress is not None:
            progress(len(results), total, sum(c.read for c in results))
    return rest


class _InlineExecutor(Executor):
    """Runs tasks in this process as they are submitted (for --workers 1 and tests)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


@contextmanager
def _executor(workers: int) -> Iterator[Executor]:
    if workers == 1:
        yield _InlineExecutor()
        return
    # spawn, not fork: polars' thread pool does not survive a fork.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# Per-process caches for worker processes: loading the financial data once per worker, not
# once per chunk. Keyed by path, size and modification time, so a changed file is reloaded.
_SOURCES: dict[tuple[str, int, int], CsvFinancialSource] = {}
_RULES: dict[str | None, Rules] = {}


def _financial_source(path: str) -> CsvFinancialSource:
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise InputFileError(path, f"cannot be read: {exc.strerror or exc}") from exc
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _SOURCES:
        _SOURCES.clear()
        _SOURCES[key] = CsvFinancialSource.from_path(path)
    return _SOURCES[key]


def _run_task(task: _Task) -> list[_Counts]:
    """Process a batch of chunk files into their output and errors files (in a worker)."""
    source = _financial_source(task.financials)
    if task.schema not in _RULES:
        _RULES[task.schema] = load_rules(task.schema)
    results = process_chunks(
        [(files.chunk.read_bytes(), files.first_row) for files in task.chunks],
        rules=_RULES[task.schema],
        financials=source,
        file=task.file,
        delimiter=task.delimiter,
    )
    counts = []
    for files, result in zip(task.chunks, results, strict=True):
        files.output.write_bytes(result.output)
        files.errors.write_bytes(errors_csv(result.errors))
        files.chunk.unlink()
        counts.append(_Counts(result.rows_read, result.rows_written, result.rows_invalid,
                              result.rows_not_enriched))  # fmt: skip
    return counts


def _merge_into(parts: list[Path], target: Path, work: Path, header: bytes) -> None:
    """Merge `parts` into a temporary file in `work`, then move it onto `target`."""
    temporary = work / f"{target.name}.tmp"
    with temporary.open("wb") as out:
        streams = [part.open("rb") for part in parts]
        try:
            merge(streams, out, header=header)
        finally:
            for stream in streams:
                stream.close()
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)
