"""EmfMetrics writes documents CloudWatch (and Powertools' format) accepts."""

from __future__ import annotations

import io
import json

from mrbatch.metrics.emf import EmfMetrics


def test_line_is_an_emf_document_with_region_and_dimensions_when_counted() -> None:
    out = io.StringIO()
    metrics = EmfMetrics(out, clock=lambda: 1700000000.25)
    metrics.count("RegionalFailover", region="us-west-2", dimensions={"kind": "failover"})
    [line] = out.getvalue().splitlines()
    document = json.loads(line)
    assert document == {
        "_aws": {
            "Timestamp": 1700000000250,
            "CloudWatchMetrics": [
                {
                    "Namespace": "mrbatch",
                    "Dimensions": [["region", "kind"]],
                    "Metrics": [{"Name": "RegionalFailover", "Unit": "Count"}],
                }
            ],
        },
        "region": "us-west-2",
        "kind": "failover",
        "RegionalFailover": 1.0,
    }


def test_every_point_is_one_flushed_line_when_counted_many_times() -> None:
    out = io.StringIO()
    metrics = EmfMetrics(out)
    for _ in range(3):
        metrics.count("ProcessedFiles", region="us-east-1")
    assert len(out.getvalue().splitlines()) == 3
    assert metrics.total("ProcessedFiles", region="us-east-1") == 3.0
