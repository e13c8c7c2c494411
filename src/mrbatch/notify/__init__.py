"""mrbatch.notify."""
