"""Per-record vs batched chunk processor through the main orchestrator (`LocalRun`).

    .venv/bin/python bench/bench_chunk_processors.py [ROWS] [CHUNK_SIZE]

Prints the wall time of one run of each processor over the same generated file, after
checking that both wrote identical output and errors files.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from mrbatch.cli.run_local import LocalRun
from mrbatch.pipeline.sample import write_sample_files


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    chunk_size = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with tempfile.TemporaryDirectory() as tmp:
        source, fin = write_sample_files(Path(tmp), "bench", rows, 3, 0.05)
        files = {}
        for per_record in (False, True):
            with LocalRun(Path(tmp) / str(per_record), fin, chunk_size=chunk_size,
                          per_record=per_record) as run:  # fmt: skip
                started = time.perf_counter()
                outcome = run.process(source)
                seconds = time.perf_counter() - started
            assert outcome.status == "SUCCEEDED", outcome
            assert outcome.output_file and outcome.errors_file
            files[per_record] = (Path(outcome.output_file).read_bytes(),
                                 Path(outcome.errors_file).read_bytes())  # fmt: skip
            kind = "per-record" if per_record else "batched"
            print(f"{kind:>10}: {rows} rows, chunks of {chunk_size}: {seconds:.2f} s "
                  f"({rows / seconds:,.0f} rows/s)")  # fmt: skip
        assert files[False] == files[True], "the two processors wrote different files"
        print("identical output and errors files")


if __name__ == "__main__":
    main()
