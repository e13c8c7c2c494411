"""Latency percentiles as S3 Replication Time Control users read them (p50 / p90 / p99).

Nearest-rank percentiles over a sample: each reported value is one that was observed, so
"p99 = 12.3 s" means some delivery really took 12.3 s, and a sample of one reports that
one value for every percentile. Pure: the caller chooses the sample (the replicator takes
the last `LATENCY_SAMPLE` deliveries of a direction).

Example:
    >>> percentiles([0.1, 0.2, 0.3, 0.4, 10.0])
    {'p50': 0.3, 'p90': 10.0, 'p99': 10.0}
    >>> percentiles([])
    {}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["LATENCY_SAMPLE", "PERCENTILES", "percentiles"]

PERCENTILES = (50, 90, 99)
LATENCY_SAMPLE = 1000  # the newest deliveries a direction's percentiles are taken over


def percentiles(values: Iterable[float], ranks: Sequence[int] = PERCENTILES) -> dict[str, float]:
    """`{"p50": ..., "p90": ..., "p99": ...}` of `values` by nearest rank; `{}` when there
    are none (no percentile of nothing, rather than a made-up 0)."""
    ordered = sorted(values)
    if not ordered:
        return {}
    return {f"p{rank}": ordered[max(1, math.ceil(rank / 100 * len(ordered))) - 1] for rank in ranks}
