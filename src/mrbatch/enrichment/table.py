"""A FinancialSource over the region's financial-data table (the enrichment API's store),
and the values text both the table source and the enrichment API answer with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mrbatch.model import FinancialRecord
from mrbatch.pipeline.columns import FINANCIAL_COLUMNS
from mrbatch.ports import Table

if TYPE_CHECKING:  # polars is imported where values are looked up, not with the module
    import polars as pl

__all__ = [
    "TableFinancialSource",
    "aligned_values",
    "distinct_uuids",
    "record_from_item",
    "values_text",
]

_SPECIAL = frozenset(',"\r\n')


def record_from_item(item: Mapping[str, object]) -> FinancialRecord:
    """A financial-table item (the CSV's columns, as strings) as a FinancialRecord."""
    return FinancialRecord(
        units_sold=str(item["unitsSold"]),
        unit_price=str(item["unitPrice"]),
        unit_cost=str(item["unitCost"]),
        total_revenue=str(item["totalRevenue"]),
        total_cost=str(item["totalCost"]),
        total_profit=str(item["totalProfit"]),
    )


def values_text(item: Mapping[str, object]) -> str:
    """An item's six values as the output CSV writes them (`934,152.58,...`): each value as
    loaded, quoted only when it holds a comma, a quote or a line break (as the pipeline's
    `csv_value`), so a chunk's output lines are the values joined to the input record.

    Runs once per enriched row in the enrichment API, so the usual case (plain numbers) is
    one f-string and a few scans of it; any other item takes the per-value way."""
    text = (
        f"{item['unitsSold']},{item['unitPrice']},{item['unitCost']},"
        f"{item['totalRevenue']},{item['totalCost']},{item['totalProfit']}"
    )
    if text.count(",") == 5 and '"' not in text and "\n" not in text and "\r" not in text:
        return text
    return ",".join(_csv_field(str(item[name])) for name in FINANCIAL_COLUMNS[1:])


def _csv_field(value: str) -> str:
    if _SPECIAL.isdisjoint(value):
        return value
    return '"' + value.replace('"', '""') + '"'


def distinct_uuids(uuids: pl.Series) -> list[str]:
    """The distinct non-empty values of `uuids`, as strings, in first-seen order."""
    import polars as pl

    text = uuids.cast(pl.String)
    return text.filter(text.str.len_bytes() > 0).unique(maintain_order=True).to_list()


def aligned_values(
    uuids: pl.Series, known: Sequence[str], values: Sequence[str | None]
) -> pl.Series:
    """`values` (of the uuids `known`, distinct) in the order of `uuids`, null where a uuid
    has none: one join, no Python work per row."""
    import polars as pl

    keys = uuids.cast(pl.String).alias("uuid").to_frame()
    table = pl.DataFrame(
        {"uuid": known, "values": values}, schema={"uuid": pl.String, "values": pl.String}
    )
    return keys.join(table, on="uuid", how="left", maintain_order="left").get_column("values")


class TableFinancialSource:
    """Looks uuids up in a `Table` keyed by `uuid`, all of a chunk's in one `get_many`."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        """See `mrbatch.pipeline.FinancialSource.lookup`."""
        keys = [{"uuid": uuid} for uuid in dict.fromkeys(uuids) if uuid]
        return {str(item["uuid"]): record_from_item(item) for item in self._table.get_many(keys)}

    def lookup_values(self, uuids: pl.Series) -> pl.Series:
        """See `mrbatch.pipeline.enrich.ValuesFinancialSource.lookup_values`."""
        items = self._table.get_many([{"uuid": uuid} for uuid in distinct_uuids(uuids)])
        return aligned_values(
            uuids, [str(item["uuid"]) for item in items], [values_text(item) for item in items]
        )
