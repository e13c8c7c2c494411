"""Replication between the regions: the change feed, object and table replication."""
