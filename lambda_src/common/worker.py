"""The worker side of following the writer: its own cluster, and the refusal on a reader.

Every regional stack runs in-VPC workers (rotation SQL, bootstrap) that connect only to
their own region's cluster endpoint. The function that invoked a worker chose its region
from DescribeGlobalClusters a moment ago (``lambda_src.common.writer``); a switchover in
between must not make the worker act on a reader, so every worker checks, after logging
in, that the server is writable and raises NotWriter (``errorType`` "NotWriter", which the
caller reports as WriterMoved) when it is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pymysql

from lambda_src.common.db import ca_bundle_from_env
from lambda_src.common.errors import ConfigurationError, LambdaCodeError


class NotWriter(LambdaCodeError):
    """The worker's own cluster is read-only: the writer is elsewhere (the choice was stale)."""


@dataclass(frozen=True, kw_only=True)
class OwnCluster:
    """The worker's own region's cluster, read once from its environment."""

    host: str
    """``DB_HOST``: this region's cluster (writer) endpoint. Required."""
    port: int
    """``DB_PORT``: defaults to 3306."""
    ca_bundle: str
    """``DB_CA_BUNDLE``: PEM file of the CAs the certificate must chain to; defaults to the
    shipped Amazon RDS bundle."""
    region: str
    """``REGION_NAME``: this region; defaults to ``AWS_REGION``."""


def own_cluster_from_env(env: Mapping[str, str]) -> OwnCluster:
    """Parse DB_HOST, DB_PORT, DB_CA_BUNDLE and REGION_NAME; ConfigurationError names the
    variable, the rule and the value."""
    host = env.get("DB_HOST", "").strip()
    if not host:
        raise ConfigurationError("DB_HOST must name this region's cluster endpoint; it is not set")
    port_raw = env.get("DB_PORT", "3306").strip()
    try:
        port = int(port_raw)
    except ValueError:
        raise ConfigurationError(f"DB_PORT must be an integer; got {port_raw!r}") from None
    ca_bundle = ca_bundle_from_env(env)
    region = env.get("REGION_NAME", "").strip() or env.get("AWS_REGION", "").strip()
    if not region:
        raise ConfigurationError(
            "REGION_NAME (or the runtime's AWS_REGION) must name this region; neither is set"
        )
    return OwnCluster(host=host, port=port, ca_bundle=ca_bundle, region=region)


def require_writer(conn: pymysql.Connection, *, where: str, chosen_by: str, retry: str) -> None:
    """Raise NotWriter unless the connected server is writable.

    ``where`` names the cluster (``host:port in region``), ``chosen_by`` the function that
    chose this region and ``retry`` what happens next; all three end up in the message.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.read_only, @@GLOBAL.innodb_read_only")
        row = cur.fetchone()
    read_only, innodb_read_only = int(row[0]), int(row[1])
    if read_only or innodb_read_only:
        raise NotWriter(
            f"the cluster at {where} is read-only "
            f"(read_only={read_only}, innodb_read_only={innodb_read_only}): it is not the writer; "
            f"the writer moved after {chosen_by} chose this region (switchover or failover); {retry}"
        )
