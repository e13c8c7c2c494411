"""mrbatch.runtime.operations.stackinfo."""
