"""Benchmark: `mrbatch process` against the per-row way and a polars single pass.

Usage:  .venv/bin/python bench/pipeline.py [--sizes 10000,100000,1000000] [--repeat 5]
        [--workers 0] [--chunk-size 1000]

Each approach runs in its own process on the same generated files; the table shows the
median wall time over the repeats, rows per second, and the peak memory of the whole process
tree (sum of the RSS of the process and its children, sampled every 20 ms). The per-row way
with HTTP lookups (the AWS sample's) is not run: at about 3 ms per lookup it needs ~300 s
per million rows; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MRBATCH = Path(sys.executable).with_name("mrbatch")


def per_row(data: str, fin: str, out: str) -> None:
    """The AWS sample's way: a dict per row, fastjsonschema per row, dict lookup, csv writer."""
    import fastjsonschema

    from mrbatch.pipeline.rules import MDY_DATE_FORMAT, is_mdy_date, load_rules

    validate = fastjsonschema.compile(dict(load_rules().schema),
                                      formats={MDY_DATE_FORMAT: is_mdy_date})  # fmt: skip
    with open(fin, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        next(reader)
        table = {row[0]: row[1:] for row in reader}
    with open(data, newline="", encoding="utf-8") as src, \
         open(out, "w", newline="", encoding="utf-8") as dst:  # fmt: skip
        reader2 = csv.DictReader(src)
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow([*(reader2.fieldnames or []), "Units Sold", "Unit Price", "Unit Cost",
                         "Total Revenue", "Total Cost", "Total Profit"])  # fmt: skip
        for record in reader2:
            try:
                validate(record)
            except fastjsonschema.JsonSchemaValueException:
                continue
            found = table.get(record["uuid"])
            if found is not None:
                writer.writerow([*record.values(), *found])


def polars_pass(data: str, fin: str, out: str) -> None:
    """One polars pass: read as strings, the same vectorised checks, join, write."""
    import polars as pl

    from mrbatch.pipeline.enrich import ENRICHED_COLUMNS, FINANCIAL_COLUMNS
    from mrbatch.pipeline.rules import load_rules

    rules = load_rules()
    frame = pl.read_csv(data, infer_schema=False).with_columns(pl.all().fill_null(""))
    ok = pl.all_horizontal([check.fails(pl.col(check.field)).not_() for check in rules.checks])
    frame = frame.filter(ok)
    finance = pl.read_csv(fin, infer_schema=False).rename(
        dict(zip(FINANCIAL_COLUMNS[1:], ENRICHED_COLUMNS, strict=True)))  # fmt: skip
    frame.join(finance, on="uuid", how="inner", maintain_order="left").write_csv(out)


def _tree_rss(pid: int) -> int:
    """RSS in bytes of `pid` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _measure(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(process.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = process.wait()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{command} failed with {code}")
    return seconds, peak[0]


def _approaches(args: argparse.Namespace, data: Path, fin: Path, out: Path) -> dict[str, list[str]]:
    me = [sys.executable, str(Path(__file__).resolve())]
    process = [str(MRBATCH), "process", str(data), "--financials", str(fin), "--out",
               str(out / "mrbatch"), "--chunk-size", str(args.chunk_size),
               "--workers", str(args.workers), "--json"]  # fmt: skip
    return {
        "mrbatch process": process,
        "polars single pass": [*me, "--run", "polars", str(data), str(fin), str(out / "p.csv")],
        "per-row (in-process lookups)": [
            *me,
            "--run",
            "per-row",
            str(data),
            str(fin),
            str(out / "r.csv"),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--skip-per-row-over", type=int, default=10_000_000)
    parser.add_argument("--run", nargs=4, metavar=("WHAT", "DATA", "FIN", "OUT"))
    args = parser.parse_args()
    if args.run:
        what, data, fin, out = args.run
        (per_row if what == "per-row" else polars_pass)(data, fin, out)
        return
    print(f"{'rows':>10} | {'approach':<30} | {'seconds':>8} | {'rows/s':>10} | {'peak MB':>8}")
    print("-" * 80)
    with tempfile.TemporaryDirectory(prefix="mrbatch-bench-") as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            base = Path(scratch) / str(size)
            subprocess.run([str(MRBATCH), "sample", "--rows", str(size), "--seed", "1",
                            "--invalid-fraction", "0.01", "--out", str(base)],
                           check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            data, fin = base / "testfile.csv", base / "testfile_financial_data.csv"
            medians: dict[str, float] = {}
            for name, command in _approaches(args, data, fin, base).items():
                if name.startswith("per-row") and size > args.skip_per_row_over:
                    continue
                runs = [_measure(command) for _ in range(args.repeat)]
                seconds = medians[name] = statistics.median(r[0] for r in runs)
                peak = max(r[1] for r in runs) / 1e6
                print(f"{size:>10} | {name:<30} | {seconds:>8.2f} | {size / seconds:>10,.0f} |"
                      f" {peak:>8.0f}", flush=True)  # fmt: skip
            _print_ratios(size, medians)


def _print_ratios(size: int, medians: dict[str, float]) -> None:
    """The two time targets of the issue as ratios, and how busy the machine was."""
    ours = medians["mrbatch process"]
    parts = [f"{ours / medians['polars single pass']:.2f}x the polars single pass"]
    if "per-row (in-process lookups)" in medians:
        parts.append(f"{medians['per-row (in-process lookups)'] / ours:.1f}x faster than per-row")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{size:>10} | mrbatch: {'; '.join(parts)} (load average {load})", flush=True)


if __name__ == "__main__":
    main()
