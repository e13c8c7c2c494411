"""mrbatch.metrics."""
