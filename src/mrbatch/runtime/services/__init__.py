"""The stack's processes: each service's entry point, the supervisor and its loop."""
