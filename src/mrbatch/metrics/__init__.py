"""The `Metrics` port's implementations: `SqliteMetrics` (one file per stack, read back by
`mrbatch status`) and `MemoryMetrics` for tests. Contract suite:
`tests/contract/test_contract_metrics.py`.
"""

from mrbatch.metrics.local import MemoryMetrics, MetricsError, SqliteMetrics

__all__ = ["MemoryMetrics", "MetricsError", "SqliteMetrics"]
