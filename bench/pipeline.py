"""Benchmark: `mrbatch process` against the per-row way and a polars single pass.

Usage:  .venv/bin/python bench/pipeline.py [--sizes 10000,100000,1000000] [--repeat 5]
        [--workers 0] [--chunk-size 1000]
        [--invalid 0.01] [--kinds legacy|all|KIND,...] [--generator sample|other]

`--invalid 0,0.01,0.1 --kinds all --generator other` is the "bad rows" bench: for each
share of invalid rows, the data is made by a second generator that the pipeline was not
tuned on (random uuids, names of random length, 4-digit years over four decades, rows
spoiled by every kind of `mrbatch sample --invalid-kinds all`), and the approaches run on
the same file in the same invocation, so the ratios are comparable.

Each approach runs in its own process on the same generated files, the approaches taking
turns within each repeat (interleaved, so a burst of load on a shared machine hits them
alike); the table shows the median wall time over the repeats, the median CPU time of the
process tree (user + system of the command and its reaped workers: steadier than wall time
when other work shares the cores), rows per second, and the peak memory of the whole process
tree (sum of the RSS of the process and its children, sampled every 20 ms). The per-row way
with HTTP lookups (the AWS sample's) is not run: at about 3 ms per lookup it needs ~300 s
per million rows; see docs/performance.md.

A/B against other code: `--baseline-src DIR` adds "mrbatch process (baseline)", the same
command run with DIR (a `src` directory, e.g. from `git archive OLD src | tar -x -C /tmp/old`)
first on PYTHONPATH, interleaved with the others. `--data-dir DIR` keeps the generated files
there and reuses them in later runs. The baseline's bytecode is compiled first, as the
installed package's is.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
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
    with open(data, newline="", encoding="utf-8", errors="replace") as src, \
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
    # Lenient where the data is dirty (short/long rows, bytes that are not UTF-8, a quote
    # polars refuses such as `"Cuba"x`): such rows get nulls or are cut, instead of failing
    # the pass. Quotes are read as plain characters: no valid generated row has one.
    frame = pl.read_csv(data, infer_schema=False, truncate_ragged_lines=True, quote_char=None,
                        encoding="utf8-lossy").with_columns(pl.all().fill_null(""))  # fmt: skip
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


class Run:
    """One measured run: wall seconds, CPU seconds of the process tree, peak tree RSS."""

    def __init__(self, seconds: float, cpu: float, peak: int) -> None:
        self.seconds, self.cpu, self.peak = seconds, cpu, peak


def _measure(command: list[str], env: dict[str, str] | None = None) -> Run:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(process.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    # wait4's usage covers the child and the descendants it reaped (the job's workers).
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{command} failed with {process.returncode}")
    return Run(seconds, usage.ru_utime + usage.ru_stime, peak[0])


def _approaches(
    args: argparse.Namespace, data: Path, fin: Path, out: Path
) -> dict[str, tuple[list[str], dict[str, str] | None]]:
    me = [sys.executable, str(Path(__file__).resolve())]
    process = [str(MRBATCH), "process", str(data), "--financials", str(fin), "--out",
               str(out / "mrbatch"), "--chunk-size", str(args.chunk_size),
               "--workers", str(args.workers), "--json"]  # fmt: skip
    found: dict[str, tuple[list[str], dict[str, str] | None]] = {"mrbatch process": (process, None)}
    if args.baseline_src:
        baseline = Path(args.baseline_src).resolve()
        # the job's workers run `python -B`: without bytecode beside a fresh `git archive`
        # they would compile every module from source on each run, which the installed
        # package (compiled once) never does, and the A/B would favour the new code
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(baseline)], check=True)
        env = dict(os.environ, PYTHONPATH=str(baseline))
        base_out = [*process[:6], str(out / "baseline"), *process[7:]]
        found["mrbatch process (baseline)"] = (base_out, env)
    found["polars single pass"] = (
        [*me, "--run", "polars", str(data), str(fin), str(out / "p.csv")], None)  # fmt: skip
    found["per-row (in-process lookups)"] = (
        [*me, "--run", "per-row", str(data), str(fin), str(out / "r.csv")], None)  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--skip-per-row-over", type=int, default=10_000_000)
    parser.add_argument("--invalid", default="0.01", help="shares of invalid rows, e.g. 0,0.01")
    parser.add_argument("--kinds", default="legacy", help="legacy, all, or sample kinds")
    parser.add_argument("--generator", choices=("sample", "other"), default="sample")
    parser.add_argument("--baseline-src", help="a src directory to run as the A/B baseline")
    parser.add_argument("--data-dir", help="keep (and reuse) the generated files here")
    parser.add_argument("--run", nargs=4, metavar=("WHAT", "DATA", "FIN", "OUT"))
    args = parser.parse_args()
    if args.run:
        what, data, fin, out = args.run
        (per_row if what == "per-row" else polars_pass)(data, fin, out)
        return
    print(f"{'rows':>10} | {'invalid':>7} | {'approach':<30} | {'seconds':>8} | {'cpu s':>7} | "
          f"{'rows/s':>10} | {'peak MB':>8}")  # fmt: skip
    print("-" * 100)
    with tempfile.TemporaryDirectory(prefix="mrbatch-bench-") as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            for share in (float(s) for s in args.invalid.split(",")):
                keep = args.data_dir is not None
                where = Path(args.data_dir) if keep else Path(scratch)
                name = f"{args.generator}-{args.kinds}-{size}-{share}"
                data, fin = _generate(args, size, share, where / name)
                base = Path(scratch) / f"{size}-{share}-out"
                base.mkdir()
                _run_size(args, size, share, data, fin, base)
                shutil.rmtree(base)
                if not keep:
                    shutil.rmtree(where / name)


def _generate(args: argparse.Namespace, size: int, share: float, base: Path) -> tuple[Path, Path]:
    """The input and financial files for one size and share of invalid rows (reused when
    `base` already holds them: `--data-dir`)."""
    data, fin = base / "testfile.csv", base / "testfile_financial_data.csv"
    if data.exists() and fin.exists():
        return data, fin
    if args.generator == "other":
        from mrbatch.pipeline.faults import parse_kinds

        kinds = parse_kinds("all" if args.kinds == "legacy" else args.kinds)
        base.mkdir(parents=True, exist_ok=True)
        _other_generator(data, fin, size, share, kinds, seed=1)
        return data, fin
    command = [str(MRBATCH), "sample", "--rows", str(size), "--seed", "1",
               "--invalid-fraction", str(share), "--out", str(base)]  # fmt: skip
    if args.kinds != "legacy":
        command += ["--invalid-kinds", args.kinds]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return data, fin


def _run_size(
    args: argparse.Namespace, size: int, share: float, data: Path, fin: Path, base: Path
) -> None:
    """Run the approaches in turn, `args.repeat` rounds; print each one's medians."""
    skip_per_row = size > args.skip_per_row_over
    approaches = {name: found for name, found in _approaches(args, data, fin, base).items()
                  if not (skip_per_row and name.startswith("per-row"))}  # fmt: skip
    runs: dict[str, list[Run]] = {name: [] for name in approaches}
    for _ in range(args.repeat):
        for name, (command, env) in approaches.items():
            runs[name].append(_measure(command, env))
    medians: dict[str, float] = {}
    for name, measured in runs.items():
        seconds = medians[name] = statistics.median(r.seconds for r in measured)
        cpu = medians[f"{name} cpu"] = statistics.median(r.cpu for r in measured)
        peak = max(r.peak for r in measured) / 1e6
        print(f"{size:>10} | {share:>7.1%} | {name:<30} | {seconds:>8.2f} | {cpu:>7.2f} | "
              f"{size / seconds:>10,.0f} | {peak:>8.0f}", flush=True)  # fmt: skip
    _print_ratios(size, medians)


def _other_generator(
    data: Path, fin: Path, rows: int, share: float, kinds: tuple[str, ...], *, seed: int
) -> None:
    """A generator unlike `mrbatch sample`: random uuids (unsorted, no stride), country,
    item and region names of random letters and lengths (many distinct values), dates
    m/d/yyyy over 1990-2029, some values with spaces; invalid rows spoiled by `kinds`."""
    import datetime
    import random

    from mrbatch.pipeline.faults import spoil_row
    from mrbatch.pipeline.sample import INPUT_COLUMNS

    rng = random.Random(seed)
    uuids = rng.sample(range(100_000_000, 1_000_000_000), rows)
    names = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randrange(
        1, 30))).strip() or "x" for _ in range(5000)]  # fmt: skip
    first = datetime.date(1990, 1, 1).toordinal()
    with data.open("wb") as out, fin.open("wb") as money:
        out.write((",".join(INPUT_COLUMNS) + "\n").encode())
        money.write(b"uuid,unitsSold,unitPrice,unitCost,totalRevenue,totalCost,totalProfit\n")
        lines, fin_lines = [], []
        for uuid in uuids:
            day = datetime.date.fromordinal(first + rng.randrange(14_600))
            ship = datetime.date.fromordinal(day.toordinal() + rng.randrange(90))
            fields = [str(uuid), rng.choice(names), rng.choice(names)[:30],
                      rng.choice(("Online", "Offline", "Phone", "Store")), rng.choice("CHLMX"),
                      f"{day.month}/{day.day}/{day.year}", rng.choice(names),
                      f"{ship.month}/{ship.day}/{ship.year}"]  # fmt: skip
            keep = True
            if share and rng.random() < share:
                spoiled = spoil_row(rng.choice(kinds), fields, rng)
                fields, keep = spoiled.fields, spoiled.has_finances
            lines.append(",".join(fields) + "\n")
            if keep:
                units, price = rng.randrange(1, 10_000), rng.randrange(100, 99_999) / 100
                fin_lines.append(f"{uuid},{units},{price},{price / 2},{units * price:.2f},"
                                 f"{units * price / 2:.2f},{units * price / 2:.2f}\n")  # fmt: skip
            if len(lines) >= 10_000:
                out.write("".join(lines).encode("utf-8", "surrogateescape"))
                money.write("".join(fin_lines).encode())
                lines.clear()
                fin_lines.clear()
        out.write("".join(lines).encode("utf-8", "surrogateescape"))
        money.write("".join(fin_lines).encode())


def _print_ratios(size: int, medians: dict[str, float]) -> None:
    """The time targets of the issue as ratios (wall and CPU), and how busy the machine was."""
    polars = "polars single pass"
    parts = []
    for name in ("mrbatch process", "mrbatch process (baseline)"):
        if name in medians:
            wall = medians[name] / medians[polars]
            cpu = medians[f"{name} cpu"] / medians[f"{polars} cpu"]
            parts.append(f"{name}: {wall:.2f}x the polars single pass (cpu {cpu:.2f}x)")
    if "per-row (in-process lookups)" in medians:
        ours = medians["mrbatch process"]
        parts.append(f"{medians['per-row (in-process lookups)'] / ours:.1f}x faster than per-row")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{size:>10} | {'; '.join(parts)} (load average {load})", flush=True)


if __name__ == "__main__":
    main()
