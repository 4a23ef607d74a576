"""The migrator worker: applies migrations on its own region's cluster while it is the writer.

The migrator function (home region, outside any VPC) invokes the worker of the region that
holds the writer with the published set and the migrator user's credentials; the worker
logs in to its own region's cluster endpoint, refuses unless that cluster is the writer,
and runs status, migrate or repair (``migrations``: lock, checksums, schema_migrations
bookkeeping). It calls no AWS API. Handler string: ``lambda_src.migrator_worker.handler.handler``.
"""
