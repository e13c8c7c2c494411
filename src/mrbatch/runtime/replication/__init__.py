"""mrbatch.runtime.replication.objects."""
