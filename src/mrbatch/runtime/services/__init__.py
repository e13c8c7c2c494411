"""mrbatch.runtime.services."""
