"""Benchmark: the enrichment API's values lookup on a region's financial table, in process.

Usage:  .venv/bin/python bench/enrichment_lookup.py --db DATA_DIR/us-east-1/tables.db
        --financials FILE.csv [--pragma 'PRAGMA ...'] [--batch 25000] [--rounds 20]

Load the table first (`mrbatch sample --out D --rows 1000000 --seed 3`, then
`mrbatch financials load D/testfile_financial_data.csv` into a stack's data directory).
Each round looks up `--batch` random uuids of the file (one call of each way, the ways taking
turns so load on a shared machine hits them alike) and reports the median CPU time per
call and per uuid of:

  before        the values route as of 4d6b359: `Table.get_many` (keys in request
                order, a dict per item) and `values_text` per item
  get_many      the same with today's `get_many` (keys looked up in key order)
  attrs         the values route now: `SqliteTable.get_many_attrs` (keys in key order,
                the six values as a JSON array per item, made text by string operations)
  attrs, P      the same on a connection with `--pragma P` (e.g. "PRAGMA mmap_size =
                1073741824", repeatable)

and checks that every way answers the same text for every uuid. The process's peak RSS
is printed last (with `mmap`, the mapped pages read would count in it).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mrbatch.enrichment.table import values_by_sql, values_text
from mrbatch.errors import TableError
from mrbatch.state.db import SqliteDatabase
from mrbatch.state.schema import FINANCIALS, KeyValue
from mrbatch.state.sqlite import SqliteTable

_Way = Callable[[Sequence[str]], dict[str, str]]


def _before(table: SqliteTable) -> _Way:
    """The values route as of 4d6b359: `get_many` (keys in request order, a dict per
    item) and `values_text` per item."""

    def lookup(uuids: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(uuids))
        found: dict[str, str] = {}
        with table._db.reading() as conn:
            for start in range(0, len(wanted), 400):
                keys: list[tuple[KeyValue, KeyValue]] = [
                    (u, "") for u in wanted[start : start + 400]
                ]
                found.update((str(pk), text) for (pk, _), text in table._lookup(conn, keys))
        items = [dict(json.loads(found[uuid])) for uuid in wanted if uuid in found]
        return {str(item["uuid"]): values_text(item) for item in items}

    return lookup


def _get_many(table: SqliteTable) -> _Way:
    def lookup(uuids: Sequence[str]) -> dict[str, str]:
        items = table.get_many([{"uuid": uuid} for uuid in dict.fromkeys(uuids)])
        return {str(item["uuid"]): values_text(item) for item in items}

    return lookup


def _attrs(table: SqliteTable) -> _Way:
    return lambda uuids: values_by_sql(table, list(dict.fromkeys(uuids)))


def _table(path: Path, pragmas: Sequence[str]) -> SqliteTable:
    db = SqliteDatabase(path, error=TableError)
    for pragma in pragmas:
        db._conn.execute(pragma)  # a bench varies the connection's settings
    return SqliteTable(db, FINANCIALS, origin="bench")


def _uuids(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return [row[0] for row in csv.reader(handle)][1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument(
        "--financials", type=Path, default=Path("/tmp/finF/testfile_financial_data.csv")
    )
    parser.add_argument("--batch", type=int, default=25_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pragma", action="append", default=[], help="extra way: PRAGMA text")
    args = parser.parse_args()
    known = _uuids(args.financials)
    ways: dict[str, _Way] = {
        "before (4d6b359)": _before(_table(args.db, [])),
        "get_many (keys sorted)": _get_many(_table(args.db, [])),
        "attrs": _attrs(_table(args.db, [])),
    }
    for pragma in args.pragma:
        ways[f"attrs, {pragma}"] = _attrs(_table(args.db, [pragma]))
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    rng = random.Random(7)
    for _ in range(args.rounds):
        batch = rng.sample(known, args.batch) + [f"{rng.randrange(10**9):09d}"] * 10
        answers = []
        for name, way in ways.items():
            started = time.process_time()
            answers.append(way(batch))
            cpu[name].append(time.process_time() - started)
        if any(answer != answers[0] for answer in answers):
            sys.exit("the ways answered differently")
    for name, times in cpu.items():
        median = statistics.median(times)
        print(f"{name:40} {median * 1000:8.1f} ms/call {median / args.batch * 1e6:6.2f} µs/uuid")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
