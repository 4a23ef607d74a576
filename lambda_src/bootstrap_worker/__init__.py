"""The bootstrap worker: the database half of the deploy-time bootstrap, in every region's VPC.

The bootstrap function (home region, outside any VPC) invokes the worker of the region that
holds the writer; the worker logs in as the master user to its own region's cluster
endpoint, refuses unless that cluster is the writer, and creates the application database,
its users, the migration bookkeeping and the failover probe's user. It calls no AWS API.
Handler string: ``lambda_src.bootstrap_worker.handler.handler``.
"""
