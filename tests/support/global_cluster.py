"""A global cluster whose writer is in a region of the test's choice, for the functions that
follow the writer (rotation, bootstrap): moto's RDS, or a DescribeGlobalClusters answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID


def create_global_cluster(
    global_id: str, *, writer: str, regions: Sequence[str], cluster_prefix: str
) -> None:
    """A moto global cluster (in ``regions[0]``) with a member ``<cluster_prefix>-<region>`` in
    each region; the one created first is the writer (moto has no FailoverGlobalCluster, so
    "after a failover" is built this way)."""
    home = boto3.client("rds", region_name=regions[0])
    home.create_global_cluster(GlobalClusterIdentifier=global_id, Engine="aurora-mysql")
    for region in (writer, *(r for r in regions if r != writer)):
        credentials = (
            {"MasterUsername": "dbadmin", "MasterUserPassword": "x" * 16} if region == writer else {}
        )
        boto3.client("rds", region_name=region).create_db_cluster(
            DBClusterIdentifier=f"{cluster_prefix}-{region}",
            Engine="aurora-mysql",
            GlobalClusterIdentifier=global_id,
            **credentials,
        )


def member(region: str, *, writer: bool, cluster_prefix: str) -> dict[str, Any]:
    """A GlobalClusterMembers entry of a DescribeGlobalClusters answer."""
    return {
        "DBClusterArn": f"arn:aws:rds:{region}:{DEFAULT_ACCOUNT_ID}:cluster:{cluster_prefix}-{region}",
        "IsWriter": writer,
    }


def failing_over(source: str, target: str, *, cluster_prefix: str) -> dict[str, Any]:
    """A global cluster in the middle of a failover from ``source`` to ``target``."""
    return {
        "Status": "failing-over",
        "FailoverState": {
            "Status": "failing-over",
            "FromDbClusterArn": member(source, writer=True, cluster_prefix=cluster_prefix)["DBClusterArn"],
            "ToDbClusterArn": member(target, writer=False, cluster_prefix=cluster_prefix)["DBClusterArn"],
        },
        "GlobalClusterMembers": [
            member(source, writer=True, cluster_prefix=cluster_prefix),
            member(target, writer=False, cluster_prefix=cluster_prefix),
        ],
    }
