"""`EmfMetrics`: counters as CloudWatch embedded metric format (EMF) lines.

A Lambda function writes one JSON line per point to its standard output; CloudWatch Logs
extracts the metric from it, with no PutMetricData call, no client and no added latency
(the same mechanism, and the same line shape, as Powertools' `Metrics`). Names and
dimensions are the local ones: the metric name as is (`InputFilesSplit`, `ProcessedFiles`,
...), the region as the dimension `region`, plus the point's own dimensions, so the
CloudWatch dashboard graphs what the local dashboard graphs.

The read side of CloudWatch metrics is CloudWatch itself (GetMetricData); `points` and
`total` read back the lines this object wrote, parsed from their text, so a test (and the
contract suite) sees exactly what CloudWatch would be handed.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> metrics = EmfMetrics(out, clock=lambda: 1700000000.0)
    >>> metrics.count("ProcessedFiles", region="us-east-1")
    >>> json.loads(out.getvalue())["ProcessedFiles"]
    1.0
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from mrbatch.metrics.local import (
    MetricsError,
    checked_point,  # one validation for every store
)
from mrbatch.ports import MetricPoint

__all__ = ["NAMESPACE", "EmfMetrics", "emf_line", "parse_emf_line"]

NAMESPACE = "mrbatch"
REGION_DIMENSION = "region"
_MAX_DIMENSIONS = 30  # EMF's limit per dimension set


def emf_line(point: MetricPoint, *, namespace: str = NAMESPACE) -> str:
    """One EMF document for `point`, as one line of JSON (unit Count, as every counter)."""
    dimensions = {REGION_DIMENSION: point.region, **point.dimensions}
    if len(dimensions) > _MAX_DIMENSIONS or point.name in dimensions:
        raise MetricsError(f"metric {point.name!r}: too many dimensions or a name clash")
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": round(point.timestamp * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": point.name, "Unit": "Count"}],
                }
            ],
        },
        **dimensions,
        point.name: point.value,
    }
    return json.dumps(document, separators=(",", ":"))


def parse_emf_line(line: str) -> MetricPoint:
    """The point an `emf_line` carries (one metric, dimensions as written)."""
    document = json.loads(line)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    name = directive["Metrics"][0]["Name"]
    names = directive["Dimensions"][0]
    dimensions = {k: str(document[k]) for k in names if k != REGION_DIMENSION}
    return MetricPoint(
        name,
        float(document[name]),
        str(document[REGION_DIMENSION]),
        document["_aws"]["Timestamp"] / 1000,
        dimensions,
    )


class EmfMetrics:
    """`Metrics` written to `stream` (default: standard output, as Lambda wants) as EMF."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        namespace: str = NAMESPACE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stream = stream
        self.namespace = namespace
        self._clock = clock
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def count(
        self,
        name: str,
        value: float = 1.0,
        *,
        region: str,
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        """See `mrbatch.ports.Metrics.count`: one line, flushed, per point."""
        point = checked_point(name, value, region, self._clock(), dimensions)
        line = emf_line(point, namespace=self.namespace)
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()
            self._lines.append(line)

    def points(self, name: str | None = None, *, region: str | None = None) -> list[MetricPoint]:
        """See `mrbatch.ports.Metrics.points`: the points of the lines written here."""
        with self._lock:
            lines = list(self._lines)
        parsed = [parse_emf_line(line) for line in lines]
        return [
            p
            for p in parsed
            if (name is None or p.name == name) and (region is None or p.region == region)
        ]

    def total(self, name: str, *, region: str | None = None) -> float:
        """See `mrbatch.ports.Metrics.total`."""
        return float(sum(p.value for p in self.points(name, region=region)))
