"""The rotation SQL worker: the database half of single-user rotation, in every region's VPC.

The rotation function (home region, outside any VPC) invokes the worker of the region that
holds the writer; the worker logs in to its own region's cluster endpoint, refuses unless
that cluster is the writer, and sets or tests the pending password. It calls no AWS API.
Handler string: ``lambda_src.rotation_sql.handler.handler``.
"""
