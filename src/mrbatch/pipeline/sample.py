"""Sample data shaped like the AWS sample's `testfile.csv` and its financial data.

Deterministic for a seed: the same arguments always write the same bytes. A fraction of
rows can be made invalid on purpose, each in one of the ways the pipeline must catch: by
default five (bad uuid, over-long country, impossible date, missing field, no financial
data); with `kinds`, any of `faults.invalid_kinds()` (every rule of the default schema,
and structural faults: short and long rows, bad quotes, line breaks, non-UTF-8).

Example:
    >>> import io
    >>> data, fin = io.BytesIO(), io.BytesIO()
    >>> write_sample(data, fin, rows=2, seed=1)
    SampleStats(rows=2, invalid=0)
    >>> data.getvalue().splitlines()[0]
    b'uuid,Country,Item Type,Sales Channel,Order Priority,Order Date,Region,Ship Date'
"""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

from mrbatch.atomic import atomic_writer
from mrbatch.errors import ConfigError
from mrbatch.pipeline.faults import spoil_row

__all__ = ["INPUT_COLUMNS", "SampleStats", "write_sample", "write_sample_files"]

INPUT_COLUMNS = (
    "uuid", "Country", "Item Type", "Sales Channel", "Order Priority", "Order Date",
    "Region", "Ship Date",
)  # fmt: skip
_FIN_HEADER = "uuid,unitsSold,unitPrice,unitCost,totalRevenue,totalCost,totalProfit\n"

# Unit price and cost per item type, as in the AWS sample.
_ITEMS = {
    "Baby Food": ("255.28", "159.42"), "Beverages": ("47.45", "31.79"),
    "Cereal": ("205.7", "117.11"), "Clothes": ("109.28", "35.84"),
    "Cosmetics": ("437.2", "263.33"), "Fruits": ("9.33", "6.92"),
    "Household": ("668.27", "502.54"), "Meat": ("421.89", "364.69"),
    "Office Supplies": ("651.21", "524.96"), "Personal Care": ("81.73", "56.67"),
    "Snacks": ("152.58", "97.44"), "Vegetables": ("154.06", "90.93"),
}  # fmt: skip
_REGIONS = {
    "Asia": "China|India|Japan|Indonesia|Vietnam|Thailand|Malaysia|Philippines|Mongolia|Nepal"
    "|Sri Lanka|South Korea|North Korea|Bangladesh|Kazakhstan|Laos",
    "Australia and Oceania": "Australia|New Zealand|Fiji|Samoa|Tonga|Papua New Guinea|Palau",
    "Central America and the Caribbean": "Panama|Cuba|Haiti|Jamaica|Honduras|Guatemala"
    "|Costa Rica|Nicaragua|Belize|Dominican Republic|Trinidad and Tobago|El Salvador",
    "Europe": "France|Germany|Italy|Spain|Portugal|Poland|Norway|Sweden|Finland|Ireland"
    "|United Kingdom|Greece|Austria|Czech Republic|Hungary|Romania|Vatican City|Iceland",
    "Middle East and North Africa": "Azerbaijan|Egypt|Morocco|Tunisia|Algeria|Libya|Jordan"
    "|Lebanon|Oman|Qatar|Kuwait|Iran|Iraq|Turkey|Saudi Arabia|United Arab Emirates",
    "North America": "Canada|United States of America|Mexico|Greenland",
    "Sub-Saharan Africa": "Sao Tome and Principe|Kenya|Nigeria|Ghana|Senegal|Mali|Niger"
    "|Chad|Rwanda|Uganda|Zambia|Zimbabwe|Namibia|Botswana|Mozambique|Cote d'Ivoire",
}
_COUNTRIES = [
    (country, region) for region, names in _REGIONS.items() for country in names.split("|")
]
_ITEM_NAMES = sorted(_ITEMS)
_FIRST_DAY = datetime.date(2010, 1, 1).toordinal()
_DAYS = datetime.date(2017, 7, 31).toordinal() - _FIRST_DAY
_UUID_SPAN = 900_000_000


@dataclass(frozen=True)
class SampleStats:
    """How many data rows were written, and how many of them were made invalid."""

    rows: int
    invalid: int


def _uuid_stride(rng: random.Random) -> int:
    """A stride coprime with the uuid span, so `start + i * stride` never repeats."""
    while True:
        stride = rng.randrange(100_000_001, _UUID_SPAN)
        if math.gcd(stride, _UUID_SPAN) == 1:
            return stride


def _date(ordinal: int) -> str:
    day = datetime.date.fromordinal(ordinal)
    return f"{day.month}/{day.day}/{day.year % 100:02d}"


def _money(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.01'))}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _financials(uuid: str, item: str, units: int) -> str:
    price, cost = _ITEMS[item]
    revenue = units * Decimal(price)
    total_cost = units * Decimal(cost)
    return (
        f"{uuid},{units},{price},{cost},{_money(revenue)},{_money(total_cost)},"
        f"{_money(revenue - total_cost)}\n"
    )


def _spoil(fields: list[str], rng: random.Random) -> tuple[list[str], bool]:
    """Make a row invalid in one of five ways; the bool says whether it keeps its finances."""
    kind = rng.randrange(5)
    if kind == 0:
        fields[0] = fields[0][:5] + "X" + fields[0][6:]
    elif kind == 1:
        fields[1] = "Republic of " * 5 + fields[1]
    elif kind == 2:
        fields[5] = "2/30/" + fields[5].rsplit("/", 1)[1]
    elif kind == 3:
        del fields[4]
    return fields, kind != 4


def write_sample(
    data: BinaryIO,
    financials: BinaryIO,
    *,
    rows: int = 10_000,
    seed: int = 0,
    invalid_fraction: float = 0.0,
    kinds: Sequence[str] = (),
) -> SampleStats:
    """Write `rows` input rows to `data` and their financial data to `financials`.

    An invalid row is spoiled in one of `kinds` (`faults.invalid_kinds()`), picked at
    random; without kinds, in one of the five original ways (kept so a seed keeps its bytes).
    """
    rng = random.Random(seed)
    start, stride = rng.randrange(_UUID_SPAN), _uuid_stride(rng)
    data.write((",".join(INPUT_COLUMNS) + "\n").encode())
    financials.write(_FIN_HEADER.encode())
    invalid = 0
    lines: list[str] = []
    fin_lines: list[str] = []
    for i in range(rows):
        uuid = str(100_000_000 + (start + i * stride) % _UUID_SPAN)
        country, region = _COUNTRIES[rng.randrange(len(_COUNTRIES))]
        item = _ITEM_NAMES[rng.randrange(len(_ITEM_NAMES))]
        ordered = _FIRST_DAY + rng.randrange(_DAYS)
        fields = [uuid, country, item, "Online" if rng.random() < 0.5 else "Offline",
                  "CHLM"[rng.randrange(4)], _date(ordered), region,
                  _date(ordered + rng.randrange(51))]  # fmt: skip
        has_finances = True
        if invalid_fraction and rng.random() < invalid_fraction:
            fields, has_finances = _spoil_as(kinds, fields, rng)
            invalid += 1
        lines.append(",".join(fields) + "\n")
        if has_finances:
            fin_lines.append(_financials(uuid, item, rng.randrange(1, 10_000)))
        if len(lines) >= 10_000:
            _flush(data, lines, financials, fin_lines)
    _flush(data, lines, financials, fin_lines)
    return SampleStats(rows=rows, invalid=invalid)


def _spoil_as(
    kinds: Sequence[str], fields: list[str], rng: random.Random
) -> tuple[list[str], bool]:
    if not kinds:
        return _spoil(fields, rng)
    spoiled = spoil_row(kinds[rng.randrange(len(kinds))], fields, rng)
    return spoiled.fields, spoiled.has_finances


def _flush(data: BinaryIO, lines: list[str], financials: BinaryIO, fin_lines: list[str]) -> None:
    # surrogateescape: a `non-utf8` fault is a lone surrogate that becomes its raw byte.
    data.write("".join(lines).encode("utf-8", "surrogateescape"))
    financials.write("".join(fin_lines).encode())
    lines.clear()
    fin_lines.clear()


def write_sample_files(
    out: Path,
    name: str,
    rows: int,
    seed: int,
    invalid_fraction: float,
    kinds: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write the sample pair atomically into `out`; return the two paths."""
    data_path, fin_path = out / f"{name}.csv", out / f"{name}_financial_data.csv"
    try:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_writer(data_path) as data, atomic_writer(fin_path) as fin:
            write_sample(data, fin, rows=rows, seed=seed, invalid_fraction=invalid_fraction,
                         kinds=kinds)  # fmt: skip
    except OSError as exc:
        raise ConfigError(f"cannot write sample data to {out}: {exc.strerror or exc}") from exc
    return data_path, fin_path
