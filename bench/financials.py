"""Benchmark: financial data loaded into a running stack and replicated to the standby.

Usage:  .venv/bin/python bench/financials.py [--rows 1000000] [--file FIN.csv] [--runs 1]

One fresh stack (`mrbatch up --detach` in a temporary directory, no financial data), then
per run `mrbatch financials load FILE --json` as a child process, timed from its start:

- load: until the command exits (every row committed in the active region), with the
  command's CPU time (user + system, from `wait4`);
- replicated: until the standby holds the load's last row (`wait_for_financials`), with
  the replicator process's CPU time over the whole run (from /proc).

While it runs a thread reads 100 random uuids of the file from each region every 50 ms with
`get_many` (what the enrichment API does per request); the slowest read is printed, to show
the regions kept serving. The file is `mrbatch sample --rows N --seed 3` financial data
unless `--file` names one. A second run loads the same file again (every uuid replaced).
The load average is printed with the results: on a shared machine wall times move a lot.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.financials import LoadReport, wait_for_financials
from mrbatch.runtime.services.stack import free_port
from mrbatch.runtime.wiring import open_tables
from stack import _run  # bench/stack.py: one way to run the CLI for both benches

MRBATCH = Path(sys.executable).with_name("mrbatch")


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Prober:
    """Reads random uuids from every region's financial table on a thread; keeps the
    slowest read and counts the reads."""

    def __init__(self, config: StackConfig, uuids: list[str]) -> None:
        self.slowest, self.reads, self._config, self._uuids = 0.0, 0, config, uuids
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._probe, daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _probe(self) -> None:
        tables = {region: open_tables(self._config, region) for region in self._config.regions}
        try:
            while not self._done.wait(0.05):
                for region_tables in tables.values():
                    keys = [{"uuid": uuid} for uuid in random.sample(self._uuids, 100)]
                    started = time.perf_counter()
                    region_tables.financials.get_many(keys)
                    self.slowest = max(self.slowest, time.perf_counter() - started)
                    self.reads += 1
        finally:
            for region_tables in tables.values():
                region_tables.close()


def _uuids(path: Path) -> list[str]:
    with path.open() as handle:
        next(handle)
        return [line.split(",", 1)[0] for line in handle]


def load_once(config: StackConfig, fin: Path, replicator_pid: int) -> dict[str, float]:
    """One load of `fin` and its replication: seconds and CPU seconds of each part."""
    replicator_cpu = _cpu_of(replicator_pid)
    started = time.monotonic()
    load = subprocess.Popen(
        [str(MRBATCH), "financials", "load", str(fin), "--data-dir", str(config.data_dir),
         "--json"], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert load.stdout is not None
    output = load.stdout.read()
    _, status, usage = os.wait4(load.pid, 0)
    loaded = time.monotonic() - started
    if status != 0:
        raise SystemExit(f"mrbatch financials load failed ({status})")
    answer = json.loads(output)
    last = answer.get("last_uuid") or _uuids(fin)[-1]  # an older loader printed no last_uuid
    report = LoadReport(answer["region"], answer["rows"], last, answer["seconds"])
    if not wait_for_financials(config, report, timeout=1800):
        raise SystemExit("the standby did not get the load's last row in 30 min")
    return {
        "load_s": loaded,
        "load_cpu_s": usage.ru_utime + usage.ru_stime,
        "replicated_s": time.monotonic() - started,
        "replicator_cpu_s": _cpu_of(replicator_pid) - replicator_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, help="financial CSV (default: a generated one)")
    parser.add_argument("--runs", type=int, default=1, help="loads of the same file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mrbatch-bench-financials-") as tmp:
        _bench(args, Path(tmp))


def _bench(args: argparse.Namespace, root: Path) -> None:
    fin = args.file
    if fin is None:
        _run("sample", "--out", str(root / "sample"), "--rows", str(args.rows), "--seed", "3")
        fin = root / "sample" / "testfile_financial_data.csv"
    data_dir = root / "stack"
    _run("up", "--data-dir", str(data_dir), "--detach", "--gateway-port", str(free_port()),
         "--smtp-port", str(free_port()))  # fmt: skip
    try:
        config = StackConfig.load(data_dir)
        pid = int(json.loads((config.run_dir / "replicator.json").read_text())["pid"])
        with Prober(config, _uuids(fin)) as prober:
            runs = [load_once(config, fin, pid) for _ in range(args.runs)]
    finally:
        _run("down", "--data-dir", str(data_dir))
    print(f"{fin} ({fin.stat().st_size / 2**20:.0f} MB)")
    for n, run in enumerate(runs, 1):
        print(f"run {n}: load {run['load_s']:.1f} s (CPU {run['load_cpu_s']:.1f} s), "
              f"loaded + replicated {run['replicated_s']:.1f} s "
              f"(replicator CPU {run['replicator_cpu_s']:.1f} s)")  # fmt: skip
    print(f"lookups during the runs: {prober.reads} reads of 100 uuids, "
          f"slowest {prober.slowest * 1000:.0f} ms")  # fmt: skip
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"bench CPU {sum(resource.getrusage(resource.RUSAGE_SELF)[:2]):.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
