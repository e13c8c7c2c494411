"""A FinancialSource over the region's financial-data table (the enrichment API's store),
and the values text both the table source and the enrichment API answer with.

The batched chunk processor reads the table through `TableFinancialSource`, in the local
stack as on AWS (where the table is the DynamoDB global table): each worker process does
its own lookups, in parallel, with no HTTP hop. The enrichment API (`enrichment.api`)
answers from the same table with the same text, for the per-record processor and clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mrbatch.model import FinancialRecord
from mrbatch.pipeline.columns import FINANCIAL_COLUMNS
from mrbatch.ports import Table

if TYPE_CHECKING:  # polars is imported where values are looked up, not with the module
    import polars as pl

__all__ = [
    "AttributeReads",
    "TableFinancialSource",
    "aligned_values",
    "distinct_uuids",
    "record_from_item",
    "values_by_sql",
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


@runtime_checkable
class AttributeReads(Protocol):
    """A table that reads some attributes of many items as JSON arrays (`SqliteTable`)."""

    def get(self, key: Mapping[str, Any]) -> dict[str, Any] | None: ...

    def get_many_attrs(self, pks: Sequence[str], attrs: Sequence[str]) -> list[tuple[str, str]]: ...


# An item whose six values are plain strings comes back as `["934","152.58",...]`: twelve
# quotes, five commas, no escape (without one, a quote only opens or closes a string, so
# twelve of them are six strings, and five commas are only the separators). Its CSV text
# is then the array without its brackets and with `","` made `,`: no value holds a comma,
# a quote or a line break (escaped in JSON) that the CSV would have to quote.
_PLAIN_QUOTES = 2 * (len(FINANCIAL_COLUMNS) - 1)
_PLAIN_COMMAS = len(FINANCIAL_COLUMNS) - 2


def values_by_sql(table: AttributeReads, uuids: Sequence[str]) -> dict[str, str]:
    """The values text of the found ones of `uuids` (distinct), from SQL's arrays of their
    six values without a dict or a parse per item (most of a lookup's cost at 10M rows
    otherwise). Any other item (a number, an escape, a quote, a missing value) is read whole
    and goes through `values_text`, so the answer is exactly the one `values_text` gives
    for every item."""
    found: dict[str, str] = {}
    for uuid, array in table.get_many_attrs(uuids, FINANCIAL_COLUMNS[1:]):
        if (
            array.count('"') == _PLAIN_QUOTES
            and array.count(",") == _PLAIN_COMMAS
            and "\\" not in array
        ):
            found[uuid] = array[2:-2].replace('","', ",")
        else:
            item = table.get({"uuid": uuid})
            if item is not None:  # deleted since the array was read
                found[uuid] = values_text(item)
    return found


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
        """See `mrbatch.pipeline.enrich.ValuesFinancialSource.lookup_values`: the six values
        read in SQL where the table can (`AttributeReads`), else item by item."""
        if isinstance(self._table, AttributeReads):
            found = values_by_sql(self._table, distinct_uuids(uuids))
            return aligned_values(uuids, list(found), list(found.values()))
        items = self._table.get_many([{"uuid": uuid} for uuid in distinct_uuids(uuids)])
        return aligned_values(
            uuids, [str(item["uuid"]) for item in items], [values_text(item) for item in items]
        )
