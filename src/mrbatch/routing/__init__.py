"""mrbatch.routing."""
