"""Tables: one region's state behind the `Table` port.

- `MemoryTable`: in-process fake for tests.
- `SqliteTable`: SQLite in WAL mode (the local target), with a last-writer-wins clock and a
  change feed for the table replicator; `open_region_tables` opens a region's three tables.
- `DynamoDBTable`: DynamoDB through an injected boto3 client (the AWS target).
"""

from mrbatch.state.db import SqliteDatabase
from mrbatch.state.dynamodb import DynamoDBTable, create_dynamodb_table
from mrbatch.state.memory import MemoryTable
from mrbatch.state.schema import BATCH_STATE, ERRORS, FINANCIALS, REGION_TABLES, TableSpec
from mrbatch.state.sqlite import RegionTables, SqliteTable, TableChange, open_region_tables

__all__ = [
    "BATCH_STATE",
    "ERRORS",
    "FINANCIALS",
    "REGION_TABLES",
    "DynamoDBTable",
    "MemoryTable",
    "RegionTables",
    "SqliteDatabase",
    "SqliteTable",
    "TableChange",
    "TableSpec",
    "create_dynamodb_table",
    "open_region_tables",
]
