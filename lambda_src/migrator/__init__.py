"""Migrator Lambda: applies this environment's published schema migrations (status, migrate, repair)."""
