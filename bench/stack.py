"""Benchmark: files through a whole local stack (upload to email), against `mrbatch process`
on the same data in the same run.

Usage:  .venv/bin/python bench/stack.py [--big-rows 1000000] [--files 100]
        [--file-rows 10000] [--concurrency 8] [--chunk-size 1000]
        [--max-files-in-flight N] [--skip-big] [--skip-many]

Two measurements on one fresh stack (`mrbatch up --detach` in a temporary directory, the
financial data of the generated sample loaded before the clock starts):

- big file: one `--big-rows` file uploaded through the access point (multipart, as
  `aws s3 cp` does), timed from the first byte sent to the email in the mail sink; the
  stack's peak memory is the sum of the RSS of every process of the stack (the supervisor
  and all its descendants), sampled every 100 ms, and its CPU the sum of their CPU seconds
  (steadier than wall time on a shared machine). The same file through `mrbatch process`
  (wall time, CPU seconds and peak RSS of its process tree) is the ratio's denominator.
- many files: `--files` files of `--file-rows` rows uploaded on `--concurrency` threads;
  throughput is files divided by the time from the first upload to the last email, and
  the latency of each file is its upload start to its email.

Targets (issue "Scale"): the big file (10M rows) ≤ 2× `mrbatch process`, peak ≤ 1.5 GB;
1,000 files × 10k rows at ≥ 300 files/min with p99 upload→email ≤ 30 s. The load average
is printed with the results: on a shared machine wall times move a lot.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.financials import load_financials_file, wait_for_financials
from mrbatch.runtime.operations.stackinfo import access_point_client, mail_messages
from mrbatch.runtime.services.stack import free_port
from pipeline import _tree_rss

MRBATCH = Path(sys.executable).with_name("mrbatch")


def _run(*args: str) -> str:
    done = subprocess.run([str(MRBATCH), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mrbatch {args[0]} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


class RssSampler:
    """Peak summed RSS of `pid` and its descendants, sampled on a thread."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.peak, self._pid, self._every = 0, pid, every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, _tree_rss(self._pid))
            self._done.wait(self._every)


def process_baseline(data: Path, fin: Path, out: Path) -> tuple[float, float, int]:
    """`mrbatch process` on `data`: (seconds, CPU seconds and peak RSS of its tree)."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen([str(MRBATCH), "process", str(data), "--financials", str(fin),
                                "--out", str(out)], stdout=subprocess.DEVNULL)  # fmt: skip
    with RssSampler(process.pid, every=0.02) as rss:
        code = process.wait()
    if code != 0:
        raise SystemExit(f"mrbatch process failed with {code}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return time.perf_counter() - started, cpu, rss.peak


def emailed(config: StackConfig, names: set[str], timeout: float) -> dict[str, float]:
    """Wait until the mail sink holds a message about each of `names`; when each was
    first seen (monotonic seconds; polled every 0.2 s, so ±0.2 s)."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(names):
        if time.monotonic() > deadline:
            missing = sorted(names - set(seen))[:5]
            raise SystemExit(f"no email after {timeout:.0f} s for {len(names) - len(seen)} "
                             f"files, e.g. {missing}")  # fmt: skip
        now = time.monotonic()
        for message in mail_messages(config.data_dir):
            name = message["subject"].rsplit(" is processed", 1)[0].rsplit(" ", 1)[-1]
            if name in names and name not in seen:
                seen[name] = now
        time.sleep(0.2)  # polling the mail sink's directory; bounded by `timeout`
    return seen


def big_file(config: StackConfig, stack_pid: int, data: Path) -> tuple[float, float, int]:
    """Upload `data` as one file: (upload start to email in seconds, the stack's CPU
    seconds meanwhile, stack peak RSS)."""
    client = access_point_client(config)
    before = _service_cpu(stack_pid)
    with RssSampler(stack_pid) as rss:
        started = time.monotonic()
        client.upload_file(str(data), config.bucket_alias, f"input/{data.name}")
        done = emailed(config, {data.name}, timeout=3600)
    after = _service_cpu(stack_pid)
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    print("stack CPU by service: " + ", ".join(
        f"{name} {seconds:.1f} s" for name, seconds in sorted(used.items()) if seconds >= 0.05
    ))  # fmt: skip
    return done[data.name] - started, sum(used.values()), rss.peak


def _service_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the tree of `pid` by service: each process counts for the nearest
    of itself and its ancestors started with `--name SERVICE` (a region's workers for
    "SERVICE workers"), the rest for "supervisor"."""
    stats: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = (
                    Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                )
                args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--name" in args[:-1]:
                names[int(entry)] = args[args.index(b"--name") + 1].decode()
    found: dict[str, float] = {}
    todo = [(pid, "supervisor")]
    while todo:
        current, service = todo.pop()
        service = names.get(current, service if service == "supervisor" else f"{service} workers")
        if current in stats:
            used = sum(int(v) for v in stats[current][11:15]) / os.sysconf("SC_CLK_TCK")
            found[service] = found.get(service, 0.0) + used
        todo.extend((child, service.removesuffix(" workers"))
                    for child, f in stats.items() if int(f[1]) == current)  # fmt: skip
    return found


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system, with reaped children) of `pid` and its descendants:
    steadier than wall time on a shared machine."""
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = (
                    Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                )
            except OSError:
                continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(child for child, fields in stats.items() if int(fields[1]) == current)
        if current in stats:
            total += sum(int(v) for v in stats[current][11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def many_files(
    config: StackConfig, stack_pid: int, files: list[Path], concurrency: int
) -> tuple[float, list[float], int]:
    """Upload `files` on `concurrency` threads: (seconds from the first upload to the last
    email, each file's upload start to email, stack peak RSS)."""
    client = access_point_client(config)
    started: dict[str, float] = {}

    def upload(path: Path) -> None:
        started[path.name] = time.monotonic()
        client.put_object(Bucket=config.bucket_alias, Key=f"input/{path.name}",
                          Body=path.read_bytes())  # fmt: skip

    with RssSampler(stack_pid) as rss:
        first = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            uploads = [pool.submit(upload, path) for path in files]
            done = emailed(config, {p.name for p in files}, timeout=7200)
            for future in uploads:
                future.result()
    latencies = [done[name] - started[name] for name in started]
    return max(done.values()) - first, latencies, rss.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--file-rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--chunk-size", type=int, default=None, help="the stack's (up --chunk-size)"
    )
    parser.add_argument(
        "--max-files-in-flight", type=int, help="the stack's (up --max-files-in-flight)"
    )
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-many", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mrbatch-bench-stack-") as tmp:
        _bench(args, Path(tmp))


def _bench(args: argparse.Namespace, root: Path) -> None:
    rows = max(args.big_rows, args.file_rows)
    _run("sample", "--out", str(root / "sample"), "--rows", str(rows), "--seed", "1",
         "--invalid-fraction", "0.01", "--name", "big")  # fmt: skip
    data, fin = root / "sample" / "big.csv", root / "sample" / "big_financial_data.csv"
    results: list[tuple[str, str]] = []
    if not args.skip_big:
        seconds, process_cpu, peak = process_baseline(data, fin, root / "process-out")
        results.append((f"mrbatch process, {args.big_rows:,} rows",
                        f"{seconds:.2f} s, {process_cpu:.1f} s CPU, "
                        f"peak {peak / 2**20:,.0f} MB"))  # fmt: skip
    files = [] if args.skip_many else _small_files(data, root / "small", args)
    data_dir = root / "stack"
    _run("up", "--data-dir", str(data_dir), "--detach",
         "--gateway-port", str(free_port()), "--smtp-port", str(free_port()),
         *(["--chunk-size", str(args.chunk_size)] if args.chunk_size else []),
         *(["--max-files-in-flight", str(args.max_files_in_flight)]
           if args.max_files_in_flight else []))  # fmt: skip
    try:
        config = StackConfig.load(data_dir)
        _load_financials(config, fin)
        pid = int(_stack_pid(data_dir))
        if not args.skip_big:
            took, stack_cpu, stack_peak = big_file(config, pid, data)
            results.append((f"stack, one {args.big_rows:,}-row file, upload→email",
                            f"{took:.2f} s = {took / seconds:.2f}× process, "
                            f"CPU {stack_cpu:.1f} s = {stack_cpu / process_cpu:.2f}× process, "
                            f"stack peak {stack_peak / 2**20:,.0f} MB"))  # fmt: skip
        if files:
            cpu = _tree_cpu(pid)
            took, latencies, stack_peak = many_files(config, pid, files, args.concurrency)
            cpu = _tree_cpu(pid) - cpu
            p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else 0.0
            results.append((f"stack, {len(files)} files × {args.file_rows:,} rows",
                            f"{len(files) / took * 60:.0f} files/min ({took:.1f} s), latency "
                            f"p50 {statistics.median(latencies):.1f} s p99 {p99:.1f} s, "
                            f"stack peak {stack_peak / 2**20:,.0f} MB, stack CPU {cpu:.0f} s "
                            f"({cpu / len(files) * 1000:.0f} ms/file)"))  # fmt: skip
    finally:
        _run("down", "--data-dir", str(data_dir))
    print(f"stack chunk size {config.chunk_size:,}, max files in flight "
          f"{args.max_files_in_flight or 'default'}")  # fmt: skip
    width = max(len(what) for what, _ in results)
    for what, value in results:
        print(f"{what:<{width}}  {value}")
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


def _load_financials(config: StackConfig, fin: Path) -> None:
    """Load the financial data into the active region and wait until the standby holds it
    too (outside the timings; a big table takes minutes on a loaded machine)."""
    report = load_financials_file(config, fin)
    if not wait_for_financials(config, report, timeout=3600):
        raise SystemExit("the financial data did not replicate to the standby within an hour")


def _small_files(data: Path, where: Path, args: argparse.Namespace) -> list[Path]:
    """`--files` files of `--file-rows` rows each: the first rows of the big sample (so
    every uuid has financial data), each under its own name."""
    where.mkdir(parents=True)
    with data.open("rb") as handle:
        lines = [next(handle) for _ in range(args.file_rows + 1)]
    body = b"".join(lines)
    paths = [where / f"small{n:04d}.csv" for n in range(args.files)]
    for path in paths:
        path.write_bytes(body)
    return paths


def _stack_pid(data_dir: Path) -> str:
    """The stack's supervisor: the parent of the processes named in stack.json."""
    from mrbatch.runtime.files import read_json

    pids = read_json(data_dir / "stack.json")["pids"]
    child = next(iter(pids.values()))
    stat = Path(f"/proc/{child}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[1]


if __name__ == "__main__":
    main()
