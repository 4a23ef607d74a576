"""The rotation SQL worker's handler (in the VPC of every regional stack).

Handler: ``lambda_src.rotation_sql.handler.handler``. Invoked synchronously by the rotation
function with a :class:`~lambda_src.common.rotation_sql.SqlRequest` payload; returns a
:class:`~lambda_src.common.rotation_sql.SqlResult`. A failure raises a named error from
``lambda_src.rotation_sql.errors`` (Lambda returns it as ``FunctionError`` with its
``errorType`` and ``errorMessage``). The event carries passwords: it is never logged.

Environment (read once per container):

* ``DB_HOST``: this region's cluster (writer) endpoint. Required.
* ``DB_PORT``: defaults to 3306.
* ``DB_CA_BUNDLE``: PEM file of the CAs the database's certificate must chain to. Defaults
  to the Amazon RDS bundle shipped in the archive; TLS is always on and verified.
* ``REGION_NAME``: this region; defaults to ``AWS_REGION``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.common.errors import LambdaCodeError
from lambda_src.common.rotation_sql import SqlRequest
from lambda_src.common.worker import own_cluster_from_env
from lambda_src.rotation_sql.sql import SERVICE, Target, run

logger = Logger(service=SERVICE)


def target_from_env(env: Mapping[str, str]) -> Target:
    """Parse the environment; ConfigurationError names the variable, the rule and the value."""
    own = own_cluster_from_env(env)
    return Target(host=own.host, port=own.port, ca_bundle=own.ca_bundle, region=own.region)


@cache
def get_target() -> Target:
    return target_from_env(os.environ)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = SqlRequest.from_payload(event)
        logger.append_keys(
            secret_id=request.secret_id, step=request.step.value, client_request_token=request.version_id
        )
        result = run(get_target(), request)
    except LambdaCodeError as exc:
        # The message names secret, version, account and endpoint; never a password.
        logger.error("rotation SQL step failed", extra={"error": type(exc).__name__, "reason": str(exc)})
        raise
    logger.info("rotation SQL step done", extra={"result": result.result, "region": result.region})
    return result.to_payload()
