"""mrbatch.job."""
