"""Find the writer at run time and hand the SQL step to that region's rotation SQL worker.

The home region owns the secret, so rotation runs there; the writer is runtime state and may
be in any region of the environment after a switchover or failover (DESIGN.md 4b). This
function therefore never connects to a database: it asks RDS in its own region which
member of the global cluster is the writer (``DescribeGlobalClusters``: the member with
``IsWriter``) and invokes, synchronously, the in-VPC worker of that region, which connects
to its own region's cluster endpoint. No cross-region database path is needed, and the
function runs outside any VPC because the Lambda API of another region is reachable from
no private subnet without NAT (interface endpoints serve their own region only).

A global cluster in transition (``FailoverState`` set) or without a writer member raises
WriterUnavailable: Secrets Manager retries the step, by then against the new writer. A
regional environment has no global cluster: its writer is the home region's cluster.
The worker is invoked even when the writer is in the home region: one path, always.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.common.rotation_sql import SqlProtocolError, SqlRequest, SqlResult
from lambda_src.rotation.errors import (
    NoWorkerForRegion,
    SqlWorkerFailed,
    SqlWorkerUnreachable,
    WriterLookupFailed,
    WriterMoved,
    WriterUnavailable,
)

logger = Logger(service="rotation", child=True)

NOT_WRITER_ERROR = "NotWriter"
"""``errorType`` of the worker's refusal on a read-only cluster (lambda_src.rotation_sql.errors)."""


@dataclass(frozen=True)
class Writer:
    region: str
    cluster_arn: str | None
    """The writer member's cluster ARN (None in a regional environment)."""


def _aws_error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}"


def find_writer(rds: Any, global_cluster_id: str) -> Writer:
    """The writer member of the global cluster, from DescribeGlobalClusters in this region."""
    try:
        response = rds.describe_global_clusters(GlobalClusterIdentifier=global_cluster_id)
    except ClientError as exc:
        raise WriterLookupFailed(
            f"DescribeGlobalClusters({global_cluster_id}) failed ({_aws_error(exc)}); the writer's region "
            "is unknown, nothing was changed"
        ) from None
    except BotoCoreError as exc:
        raise WriterLookupFailed(f"DescribeGlobalClusters({global_cluster_id}) failed ({exc})") from None
    clusters = response.get("GlobalClusters") or []
    if not clusters:
        raise WriterLookupFailed(f"DescribeGlobalClusters knows no global cluster {global_cluster_id!r}")
    cluster = clusters[0]
    failover = cluster.get("FailoverState") or {}
    if failover.get("Status"):
        raise WriterUnavailable(
            f"global cluster {global_cluster_id} is in transition (FailoverState {failover.get('Status')!r} "
            f"from {failover.get('FromDbClusterArn')} to {failover.get('ToDbClusterArn')}); "
            "Secrets Manager retries the step once the new writer is in place"
        )
    writers = [m for m in cluster.get("GlobalClusterMembers") or [] if m.get("IsWriter")]
    if len(writers) != 1:
        raise WriterUnavailable(
            f"global cluster {global_cluster_id} has {len(writers)} writer members (status "
            f"{cluster.get('Status')!r}); Secrets Manager retries the step once exactly one is the writer"
        )
    arn = str(writers[0]["DBClusterArn"])
    parts = arn.split(":")
    if len(parts) < 6 or not parts[3]:
        raise WriterLookupFailed(f"the writer member's DBClusterArn {arn!r} names no region")
    return Writer(region=parts[3], cluster_arn=arn)


@dataclass(frozen=True, kw_only=True)
class SqlWorkers:
    """Where the writer is and how to reach its region's worker."""

    home_region: str
    global_cluster_id: str | None
    """None for a regional environment (the writer is the home region's cluster)."""
    workers: Mapping[str, str]
    """Region -> ARN of the rotation SQL worker there (every region of the environment)."""
    rds: Callable[[], Any]
    """RDS client of the home region (called only for a global environment)."""
    lambda_client: Callable[[str], Any]
    """Lambda client of a region."""

    def locate(self) -> Writer:
        if self.global_cluster_id is None:
            return Writer(region=self.home_region, cluster_arn=None)
        return find_writer(self.rds(), self.global_cluster_id)

    def run(self, request: SqlRequest) -> SqlResult:
        """Find the writer, run the SQL step on its region's worker and return its answer."""
        writer = self.locate()
        worker = self.workers.get(writer.region)
        if worker is None:
            known = ", ".join(sorted(self.workers)) or "none"
            raise NoWorkerForRegion(
                f"{request.secret_id}: the writer is in {writer.region} ({writer.cluster_arn}) but SQL_WORKERS "
                f"names workers only for {known}; add the region to the environment and run `infra up`"
            )
        logger.info(
            "delegating the SQL step to the writer's region",
            extra={"writer_region": writer.region, "writer_cluster": writer.cluster_arn, "worker": worker},
        )
        return invoke_worker(self.lambda_client(writer.region), worker, writer.region, request)


def invoke_worker(client: Any, worker: str, region: str, request: SqlRequest) -> SqlResult:
    """Invoke the worker synchronously; its failure becomes SqlWorkerFailed (or WriterMoved)."""
    step = request.step.value
    try:
        response = client.invoke(
            FunctionName=worker,
            InvocationType="RequestResponse",
            Payload=json.dumps(request.to_payload()).encode(),
        )
    except ClientError as exc:
        raise SqlWorkerUnreachable(
            f"{request.secret_id}: cannot invoke the rotation SQL worker {worker} in {region} for {step} "
            f"({_aws_error(exc)}); is the regional stack of {region} deployed?"
        ) from None
    except BotoCoreError as exc:
        raise SqlWorkerUnreachable(
            f"{request.secret_id}: cannot invoke the rotation SQL worker {worker} in {region} for {step} ({exc})"
        ) from None
    raw = response["Payload"].read()
    try:
        body: Any = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        body = None
    if response.get("FunctionError"):
        body = body if isinstance(body, dict) else {}
        error_type = str(body.get("errorType") or response["FunctionError"])
        worker_message = str(body.get("errorMessage") or "no message")
        error = WriterMoved if error_type == NOT_WRITER_ERROR else SqlWorkerFailed
        raise error(
            f"{request.secret_id}: {step} failed in the writer's region {region} (worker {worker}): "
            f"{error_type}: {worker_message}",
            region=region,
            error_type=error_type,
            worker_message=worker_message,
        )
    try:
        return SqlResult.from_payload(body)
    except SqlProtocolError as exc:
        raise SqlWorkerFailed(
            f"{request.secret_id}: the worker {worker} in {region} answered {step} with {exc}",
            region=region,
            error_type="SqlProtocolError",
            worker_message=str(exc),
        ) from None
