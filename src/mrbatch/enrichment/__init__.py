"""mrbatch.enrichment."""
