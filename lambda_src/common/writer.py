"""Find the writer at run time and hand a database step to that region's in-VPC worker.

Shared by the functions that run in the home region outside any VPC and never connect to
a database themselves: secret rotation (``lambda_src.rotation``) and the deploy-time
bootstrap (``lambda_src.bootstrap``). The writer is runtime state and may be in any region
of the environment after a switchover or failover (DESIGN.md 4b). Such a function asks
RDS in its own region which member of the global cluster is the writer
(``DescribeGlobalClusters``: the member with ``IsWriter``) and invokes, synchronously, the
worker of that region, which connects to its own region's cluster endpoint. No
cross-region database path is needed, and the caller runs outside any VPC because the
Lambda API of another region is reachable from no private subnet without NAT (interface
endpoints serve their own region only).

A global cluster in transition (``FailoverState`` set) or without a writer member raises
WriterUnavailable. A regional environment has no global cluster: its writer is the home
region's cluster. The worker is invoked even when the writer is in the home region: one
path, always. The worker side (the writer check, the worker's own cluster) is
``lambda_src.common.worker``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.common.errors import ConfigurationError, LambdaCodeError

NOT_WRITER_ERROR = "NotWriter"
"""``errorType`` of a worker's refusal on a read-only cluster (lambda_src.common.worker.NotWriter)."""

T = TypeVar("T")


class WriterDelegationError(LambdaCodeError):
    """Finding the writer or running the step on its region's worker failed."""


class WriterUnavailable(WriterDelegationError):
    """No writer right now: the global cluster is failing over or switching over, or has no
    writer member. Nothing was changed; the step may be run again later."""


class WriterLookupFailed(WriterDelegationError):
    """DescribeGlobalClusters failed or does not know the global cluster."""


class NoWorkerForRegion(WriterDelegationError):
    """The writer is in a region for which the function knows no worker."""


class SqlWorkerUnreachable(WriterDelegationError):
    """The Lambda API refused or failed the Invoke of the writer region's worker."""


class WorkerProtocolError(LambdaCodeError):
    """A request to a worker or its answer is malformed."""


class SqlWorkerFailed(WriterDelegationError):
    """The worker ran and failed (Lambda ``FunctionError``); the message names its region,
    its ``errorType`` and its ``errorMessage``."""

    def __init__(self, message: str, *, region: str, error_type: str, worker_message: str) -> None:
        super().__init__(message)
        self.region = region
        self.error_type = error_type
        self.worker_message = worker_message


class WriterMoved(SqlWorkerFailed):
    """The worker found its cluster read-only: the writer moved after it was chosen."""


@dataclass(frozen=True)
class Writer:
    region: str
    cluster_arn: str | None
    """The writer member's cluster ARN (None in a regional environment)."""


def aws_error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}"


def find_writer(rds: Any, global_cluster_id: str, *, retry: str) -> Writer:
    """The writer member of the global cluster, from DescribeGlobalClusters in this region.

    ``retry`` says who runs the step again when there is no writer right now (for example
    "Secrets Manager retries the step"); it ends the WriterUnavailable messages.
    """
    try:
        response = rds.describe_global_clusters(GlobalClusterIdentifier=global_cluster_id)
    except ClientError as exc:
        raise WriterLookupFailed(
            f"DescribeGlobalClusters({global_cluster_id}) failed ({aws_error(exc)}); the writer's region "
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
            f"from {failover.get('FromDbClusterArn')} to {failover.get('ToDbClusterArn')}); nothing was "
            f"changed; {retry} once the new writer is in place"
        )
    writers = [m for m in cluster.get("GlobalClusterMembers") or [] if m.get("IsWriter")]
    if len(writers) != 1:
        raise WriterUnavailable(
            f"global cluster {global_cluster_id} has {len(writers)} writer members (status "
            f"{cluster.get('Status')!r}); nothing was changed; {retry} once exactly one is the writer"
        )
    arn = str(writers[0]["DBClusterArn"])
    parts = arn.split(":")
    if len(parts) < 6 or not parts[3]:
        raise WriterLookupFailed(f"the writer member's DBClusterArn {arn!r} names no region")
    return Writer(region=parts[3], cluster_arn=arn)


@dataclass(frozen=True, kw_only=True)
class Delegation:
    """Where the writer is looked up and which worker serves each region (the environment)."""

    home_region: str
    global_cluster_id: str | None
    workers: Mapping[str, str]
    worker_timeout_seconds: int = 30


def delegation_from_env(env: Mapping[str, str], *, default_timeout: int = 30) -> Delegation:
    """Parse HOME_REGION, GLOBAL_CLUSTER_ID, SQL_WORKERS and WORKER_TIMEOUT_SECONDS.

    ConfigurationError names the variable, the rule and the value.
    """
    home = env.get("HOME_REGION", "").strip() or env.get("AWS_REGION", "").strip()
    if not home:
        raise ConfigurationError("HOME_REGION (or the runtime's AWS_REGION) must name the secrets' region")
    raw = env.get("SQL_WORKERS", "").strip()
    try:
        workers = json.loads(raw) if raw else None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"SQL_WORKERS must be a JSON object region -> worker ARN ({exc.msg})"
        ) from None
    if (
        not isinstance(workers, dict)
        or not workers
        or not all(
            isinstance(k, str) and isinstance(v, str) and v.startswith("arn:") for k, v in workers.items()
        )
    ):
        raise ConfigurationError(
            f"SQL_WORKERS must be a non-empty JSON object region -> worker function ARN; got {raw!r}"
        )
    global_id = env.get("GLOBAL_CLUSTER_ID", "").strip() or None
    if global_id is None and home not in workers:
        raise ConfigurationError(
            f"SQL_WORKERS must name a worker for the home region {home} of a regional environment; "
            f"it names {', '.join(sorted(workers))}"
        )
    timeout_raw = env.get("WORKER_TIMEOUT_SECONDS", str(default_timeout)).strip()
    try:
        timeout = int(timeout_raw)
    except ValueError:
        raise ConfigurationError(f"WORKER_TIMEOUT_SECONDS must be an integer; got {timeout_raw!r}") from None
    return Delegation(
        home_region=home, global_cluster_id=global_id, workers=workers, worker_timeout_seconds=timeout
    )


# DescribeGlobalClusters in the home region is a read: retried (max_attempts counts retries).
# Each caller creates its clients itself: the archive of every Lambda holds lambda_src/common,
# and guardrail lambda-apis-reachable reads the services a function calls from its archive.
LOOKUP_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})


def invoke_config(delegation: Delegation, *, attempts: int) -> Config:
    """The synchronous Invoke of a worker waits for its whole run (its timeout plus 5 s) and is
    sent at most ``attempts`` times in all (``total_max_attempts``; 1: never retried)."""
    return Config(
        connect_timeout=3,
        read_timeout=delegation.worker_timeout_seconds + 5,
        retries={"total_max_attempts": attempts, "mode": "standard"},
    )


@dataclass(frozen=True, kw_only=True)
class SqlWorkers:
    """Where the writer is and how to reach its region's worker."""

    home_region: str
    global_cluster_id: str | None
    """None for a regional environment (the writer is the home region's cluster)."""
    workers: Mapping[str, str]
    """Region -> ARN of the worker there (every region of the environment)."""
    rds: Callable[[], Any]
    """RDS client of the home region (called only for a global environment)."""
    lambda_client: Callable[[str], Any]
    """Lambda client of a region."""
    kind: str
    """What the workers are, for messages ("rotation SQL worker", "bootstrap worker")."""
    retry: str
    """Who runs the step again when there is no writer right now, for messages."""
    logger: Logger
    """The calling function's logger: the delegation is logged in its service's records."""

    @classmethod
    def of(
        cls,
        delegation: Delegation,
        *,
        rds: Callable[[], Any],
        lambda_client: Callable[[str], Any],
        kind: str,
        retry: str,
        logger: Logger,
    ) -> SqlWorkers:
        return cls(
            home_region=delegation.home_region,
            global_cluster_id=delegation.global_cluster_id,
            workers=delegation.workers,
            rds=rds,
            lambda_client=lambda_client,
            kind=kind,
            retry=retry,
            logger=logger,
        )

    def locate(self) -> Writer:
        if self.global_cluster_id is None:
            return Writer(region=self.home_region, cluster_arn=None)
        return find_writer(self.rds(), self.global_cluster_id, retry=self.retry)

    def run(self, payload: Mapping[str, Any], *, subject: str, action: str, parse: Callable[[Any], T]) -> T:
        """Find the writer, run ``action`` on its region's worker and return its parsed answer.

        ``subject`` starts every message (the secret, the database); ``parse`` turns the
        worker's answer into the result and raises WorkerProtocolError when it is malformed.
        """
        writer = self.locate()
        worker = self.workers.get(writer.region)
        if worker is None:
            known = ", ".join(sorted(self.workers)) or "none"
            raise NoWorkerForRegion(
                f"{subject}: the writer is in {writer.region} ({writer.cluster_arn}) but SQL_WORKERS "
                f"names workers only for {known}; add the region to the environment and run `infra up`"
            )
        self.logger.info(
            "delegating the SQL step to the writer's region",
            extra={"writer_region": writer.region, "writer_cluster": writer.cluster_arn, "worker": worker},
        )
        return invoke_worker(
            self.lambda_client(writer.region),
            worker,
            writer.region,
            payload,
            subject=subject,
            action=action,
            kind=self.kind,
            parse=parse,
        )


def invoke_worker(
    client: Any,
    worker: str,
    region: str,
    payload: Mapping[str, Any],
    *,
    subject: str,
    action: str,
    kind: str,
    parse: Callable[[Any], T],
) -> T:
    """Invoke the worker synchronously; its failure becomes SqlWorkerFailed (or WriterMoved)."""
    try:
        response = client.invoke(
            FunctionName=worker,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
    except ClientError as exc:
        raise SqlWorkerUnreachable(
            f"{subject}: cannot invoke the {kind} {worker} in {region} for {action} "
            f"({aws_error(exc)}); is the regional stack of {region} deployed?"
        ) from None
    except BotoCoreError as exc:
        raise SqlWorkerUnreachable(
            f"{subject}: cannot invoke the {kind} {worker} in {region} for {action} ({exc})"
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
            f"{subject}: {action} failed in the writer's region {region} (worker {worker}): "
            f"{error_type}: {worker_message}",
            region=region,
            error_type=error_type,
            worker_message=worker_message,
        )
    try:
        return parse(body)
    except WorkerProtocolError as exc:
        raise SqlWorkerFailed(
            f"{subject}: the worker {worker} in {region} answered {action} with {exc}",
            region=region,
            error_type=type(exc).__name__,
            worker_message=str(exc),
        ) from None
