"""Lambda entry point ``lambda_src.health.handler.handler``: one check per EventBridge tick.

Environment (read once per container):

* ``SECRET_ARN`` (required): credentials secret (RDS JSON layout), this region's replica.
* ``DB_HOST`` (required): this region's cluster writer endpoint *address*.
* ``DB_READER_HOST``: this region's reader endpoint; decides ``Reachable`` when the cluster
  endpoint cannot be reached (a secondary cluster of a global database).
* ``DB_PORT``: defaults to 3306.
* ``METRIC_NAMESPACE`` (required), ``ENVIRONMENT`` (required), ``CLUSTER_ID`` (required).
* ``REGION_NAME``: defaults to the Lambda-provided ``AWS_REGION``.
* ``CONNECT_TIMEOUT_S``, ``READ_TIMEOUT_S``: seconds in (0, 30], default 2.
* ``DB_CA_BUNDLE``: PEM file of the CAs the database's certificate must chain to; defaults
  to the Amazon RDS bundle shipped in the archive. TLS is always on and the certificate and
  host name are always verified (``DB_TLS`` other than ``true`` is a configuration error).

The event's content is not used (any EventBridge scheduled event or ``{}``). The result
is ``CheckResult.as_dict()`` plus ``metrics_published``. Metric names and dimensions:
see ``lambda_src.health.check``. Each invocation logs one JSON line with ``reason``.

AWS calls: ``secretsmanager:GetSecretValue`` (stages AWSCURRENT and, after a refused
login, AWSPENDING) and ``cloudwatch:PutMetricData``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from lambda_src.common.errors import ConfigurationError
from lambda_src.health.check import (
    CheckResult,
    ConnectFactory,
    HealthConfig,
    Reason,
    WarmState,
    check_health,
    connect_within_budget,
    publish_metrics,
)

SERVICE = "aurora-health"

logger = Logger(service=SERVICE)

# The check runs every minute and its answer is worthless a minute later: short socket
# timeouts and one retry, from botocore's standard retry mode.
AWS_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})


@dataclass
class Runtime:
    """Configuration, clients and the warm connection of one container."""

    config: HealthConfig
    secrets_client: Any
    cloudwatch_client: Any
    state: WarmState = field(default_factory=WarmState)
    connect: ConnectFactory = connect_within_budget

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Runtime:
        config = HealthConfig.from_env(environ)
        return cls(
            config=config,
            secrets_client=boto3.client(
                "secretsmanager", region_name=config.region, config=AWS_CLIENT_CONFIG
            ),
            cloudwatch_client=boto3.client("cloudwatch", region_name=config.region, config=AWS_CLIENT_CONFIG),
        )


_runtime: Runtime | None = None


def runtime() -> Runtime:
    """The container's Runtime, built from the environment on first use."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.from_environment(os.environ)
    return _runtime


def run_check(rt: Runtime) -> dict[str, Any]:
    """Check, publish, log one line; never raises."""
    timestamp = datetime.now(UTC)
    try:
        result = check_health(rt.config, rt.state, secrets_client=rt.secrets_client, connect=rt.connect)
    except Exception as exc:
        # A bug here must still produce a datapoint: silence would look like a dead region.
        logger.exception("health check failed unexpectedly", extra={"reason": str(Reason.INTERNAL_ERROR)})
        rt.state.drop_connection()
        result = CheckResult(
            reachable=False, writer=False, reason=Reason.INTERNAL_ERROR, latency_ms=0.0, detail=repr(exc)
        )

    outcome = result.as_dict()
    try:
        publish_metrics(rt.cloudwatch_client, rt.config, result, timestamp=timestamp)
        outcome["metrics_published"] = True
    except Exception as exc:
        logger.error(
            "PutMetricData failed",
            extra={"reason": "metrics_publish_failed", "check_reason": outcome["reason"], "detail": str(exc)},
        )
        outcome["metrics_published"] = False

    fields = {
        **outcome,
        "environment": rt.config.environment,
        "region": rt.config.region,
        "cluster_id": rt.config.cluster_id,
    }
    if result.healthy:
        logger.info("writer healthy", extra=fields)
    else:
        logger.warning("writer unhealthy", extra=fields)
    return outcome


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        rt = runtime()
    except ConfigurationError as exc:
        logger.error(
            "health check misconfigured",
            extra={"reason": str(Reason.CONFIGURATION_ERROR), "detail": str(exc)},
        )
        return {
            "healthy": False,
            "reachable": False,
            "writer": False,
            "latency_ms": 0.0,
            "reason": str(Reason.CONFIGURATION_ERROR),
            "detail": str(exc),
            "metrics_published": False,
        }
    return run_check(rt)
