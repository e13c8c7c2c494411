"""The local two-region runtime: region processes, replication, routing, gateway, mail."""
