"""Aggregates and value objects of the health card domain (pure: no I/O)."""
