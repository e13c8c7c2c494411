"""A FinancialSource over the region's financial-data table (the enrichment API's store)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mrbatch.model import FinancialRecord
from mrbatch.ports import Table

__all__ = ["TableFinancialSource", "record_from_item"]


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


class TableFinancialSource:
    """Looks uuids up in a `Table` keyed by `uuid`, all of a chunk's in one `get_many`."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        """See `mrbatch.pipeline.FinancialSource.lookup`."""
        keys = [{"uuid": uuid} for uuid in dict.fromkeys(uuids) if uuid]
        return {str(item["uuid"]): record_from_item(item) for item in self._table.get_many(keys)}
