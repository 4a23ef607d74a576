"""Migrator Lambda: applies this environment's published schema migrations (status, migrate, repair)
on the current writer, through the migrator worker of the writer's region (``lambda_src.migrator_worker``)."""
