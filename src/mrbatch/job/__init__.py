"""The single-machine job behind `mrbatch process`: byte-range batches planned over the
input, run on lean worker processes, parts merged in order, a financial index shared
through Arrow files and joined in slices when the financial file is big.

Unlike `mrbatch.pipeline` (pure functions over bytes), this package reads and writes files
and starts processes. `run_job` is its entry point:

    >>> from mrbatch.job import JobOptions, run_job  # doctest: +SKIP
    >>> run_job("in.csv", "fin.csv", "out/", options=JobOptions(chunk_size=1000))  # doctest: +SKIP
"""

from mrbatch.job.runner import JobOptions, JobSummary, run_job

__all__ = ["JobOptions", "JobSummary", "run_job"]
