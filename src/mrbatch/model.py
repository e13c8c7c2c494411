"""Domain records shared by the pipeline, the handlers and the state tables."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_CHUNK_SIZE", "ERROR_COLUMNS", "ErrorRecord", "FinancialRecord"]

# Records per chunk unless configured (the AWS sample used 600; 1000 stays well inside
# Step Functions' payload limit for the per-record processor).
DEFAULT_CHUNK_SIZE = 1000

# Columns of the errors CSV, in order (see ErrorRecord).
ERROR_COLUMNS = ("file", "row", "field", "rule", "message", "raw_row")


@dataclass(frozen=True)
class ErrorRecord:
    """Why one row of an input file was not written to the output.

    `row` is the record number in the original file, the header being row 1; `field` is the
    column at fault ("" when the record as a whole is wrong); `rule` names the check
    (a JSON Schema keyword, or `fieldCount`, `encoding`, `csv`, `maxFieldBytes`,
    `enrichment`); `raw_row` is the record as it appeared, without its line end (bytes that
    are not UTF-8 are shown as `\\xNN`).
    """

    file: str
    row: int
    field: str
    rule: str
    message: str
    raw_row: str

    def as_row(self) -> tuple[str, str, str, str, str, str]:
        """The record as the six fields of an errors CSV row."""
        return (self.file, str(self.row), self.field, self.rule, self.message, self.raw_row)


@dataclass(frozen=True)
class FinancialRecord:
    """The financial data of one order, every value exactly as the source wrote it."""

    units_sold: str
    unit_price: str
    unit_cost: str
    total_revenue: str
    total_cost: str
    total_profit: str
