"""What operators run against a stack: the runbook, takeover and reconciliation, the drill,
the demo, financial loads, status reads, and the one-region local run."""
