"""The local Amazon States Language engine."""
