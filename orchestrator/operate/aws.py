"""AWS sessions for live operations: credentials, the environment's account checked first, clients per region.

Read-only credentials suffice for reads (the caller's own by default, or a role assumed with
``role_arn``); clients come from a ``client_factory(service, region)`` so tests inject moto or
botocore ``Stubber`` clients.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from model.environment import Environment

ClientFactory = Callable[[str, str], Any]
"""``(service, region) -> boto3 client``."""

# Reads may be retried; a region that does not answer costs at most ~3 x connect_timeout.
READ_CONFIG = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"})
# SwitchoverGlobalCluster / FailoverGlobalCluster are not idempotent: a retry after a lost answer
# would start a second operation or be rejected for the first. Sent once (as the failover Lambda does).
# botocore's ``max_attempts`` counts retries (1 = one retry); ``total_max_attempts`` counts the
# first request too: 1 is "sent once".
ACTION_CONFIG = Config(
    connect_timeout=5, read_timeout=60, retries={"total_max_attempts": 1, "mode": "standard"}
)
# A synchronous Lambda invocation answers when the function ends: up to its timeout (the
# migrator: components.lambdas.MIGRATOR_TIMEOUT_SECONDS, 900 s, the Lambda maximum). Waiting
# less would report a failure while the function goes on; sent once, like ACTION_CONFIG.
LONG_ACTION_CONFIG = Config(
    connect_timeout=5, read_timeout=960, retries={"total_max_attempts": 1, "mode": "standard"}
)
# Assumed-role credentials must outlive the longest operation (failover waits up to 30 min).
ASSUME_ROLE_SECONDS = 3600

# --- errors ----------------------------------------------------------------------------------


class LiveError(Exception):
    """Reading the live environment failed in a way the caller must report."""


class CredentialsError(LiveError):
    """No usable AWS credentials, or the role could not be assumed."""


class WrongAccountError(LiveError):
    def __init__(self, env: Environment, actual_account: str, arn: str) -> None:
        self.expected = env.account_id
        self.actual = actual_account
        super().__init__(
            f"refusing to read {env.name}: the credentials belong to account {actual_account} ({arn}), "
            f"but environments/{env.name}.yaml says account_id: {env.account_id}. Use credentials of "
            f"account {env.account_id} (e.g. AWS_PROFILE) or pass --role-arn with a role in that account."
        )


class GlobalClusterReadError(LiveError):
    """DescribeGlobalClusters failed in every region of the environment."""


class WriterInTransitionError(LiveError):
    """The global cluster has no settled writer (a switchover or failover is running)."""


def describe_error(exc: BaseException) -> str:
    """Short, stable text for an AWS error: the error code and message, or the exception type."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', str(exc))}"
    return f"{type(exc).__name__}: {exc}"


def error_code(exc: BaseException) -> str | None:
    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


def region_of_arn(arn: str) -> str:
    """arn:aws:rds:us-west-2:123456789012:cluster:prod-aurora-usw2 -> us-west-2."""
    parts = arn.split(":")
    if len(parts) < 6 or not parts[3]:
        raise ValueError(f"not a regional ARN: {arn!r}")
    return parts[3]


def partition_home_region(region: str) -> str:
    """Region of the partition's global endpoints (Route 53): not a region of the environment,
    so a dead primary region does not take the DNS part of the status down with it."""
    if region.startswith("cn-"):
        return "cn-northwest-1"
    if region.startswith("us-gov-"):
        return "us-gov-west-1"
    return "us-east-1"


# --- session ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallerIdentity:
    account: str
    arn: str


class AwsSession:
    """Clients per (service, region), created once and shared (boto3 clients are thread-safe;
    creating them is not, hence the lock)."""

    def __init__(
        self,
        client_factory: ClientFactory,
        *,
        action_client_factory: ClientFactory | None = None,
        long_action_client_factory: ClientFactory | None = None,
    ) -> None:
        self._factory = client_factory
        self._action_factory = action_client_factory or client_factory
        self._long_action_factory = long_action_client_factory or self._action_factory
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()
        self.identity: CallerIdentity | None = None

    def client(self, service: str, region: str) -> Any:
        """A read client (retried reads)."""
        return self._cached("read", service, region, self._factory)

    def action_client(self, service: str, region: str) -> Any:
        """A client for non-idempotent operations (no automatic retries)."""
        return self._cached("action", service, region, self._action_factory)

    def long_action_client(self, service: str, region: str) -> Any:
        """A client for a non-idempotent call that answers only when it is done (a synchronous
        Lambda invocation of up to 15 minutes): no retries, a read timeout above that."""
        return self._cached("long-action", service, region, self._long_action_factory)

    def _cached(self, kind: str, service: str, region: str, factory: ClientFactory) -> Any:
        key = (kind, service, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = factory(service, region)
            return self._clients[key]

    @classmethod
    def from_credentials(
        cls,
        *,
        regions: Iterable[str],
        role_arn: str | None = None,
        profile: str | None = None,
        session_name: str = "infra",
    ) -> AwsSession:
        """Real clients: the caller's credentials (profile/env/SSO...), or ``role_arn`` assumed with
        them through STS in the first of ``regions`` that answers."""
        try:
            session = boto3.session.Session(profile_name=profile)
        except BotoCoreError as exc:
            raise CredentialsError(f"cannot load AWS credentials: {describe_error(exc)}") from exc
        if role_arn is not None:
            session = _assume_role(session, role_arn, session_name, regions)

        def read(service: str, client_region: str) -> Any:
            return session.client(service, region_name=client_region, config=READ_CONFIG)

        def act(service: str, client_region: str) -> Any:
            return session.client(service, region_name=client_region, config=ACTION_CONFIG)

        def act_long(service: str, client_region: str) -> Any:
            return session.client(service, region_name=client_region, config=LONG_ACTION_CONFIG)

        return cls(read, action_client_factory=act, long_action_client_factory=act_long)

    def verify_account(self, env: Environment) -> CallerIdentity:
        """STS GetCallerIdentity (needs no permission); refuse credentials of another account.

        Tried in each region of the environment in turn so a dead primary region does not block
        the status that is most needed during its outage."""
        errors: list[str] = []
        for region in env.regions:
            try:
                answer = self.client("sts", region).get_caller_identity()
            except NoCredentialsError as exc:
                errors.append(describe_error(exc))
                break
            except (BotoCoreError, ClientError) as exc:
                errors.append(f"{region}: {describe_error(exc)}")
                continue
            identity = CallerIdentity(account=str(answer["Account"]), arn=str(answer["Arn"]))
            if identity.account != env.account_id:
                raise WrongAccountError(env, identity.account, identity.arn)
            self.identity = identity
            return identity
        raise CredentialsError(
            "cannot verify the AWS account (sts:GetCallerIdentity failed): "
            + "; ".join(errors)
            + ". Check your credentials (AWS_PROFILE, aws sso login, or --role-arn)."
        )


def _assume_role(
    session: boto3.session.Session, role_arn: str, session_name: str, regions: Iterable[str]
) -> boto3.session.Session:
    errors: list[str] = []
    for region in regions:
        try:
            sts = session.client("sts", region_name=region, config=READ_CONFIG)
            creds = sts.assume_role(
                RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=ASSUME_ROLE_SECONDS
            )["Credentials"]
        except (ClientError, NoCredentialsError) as exc:  # another region would say the same
            errors.append(f"{region}: {describe_error(exc)}")
            break
        except BotoCoreError as exc:  # no answer: try the next region's STS endpoint
            errors.append(f"{region}: {describe_error(exc)}")
            continue
        return boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
    raise CredentialsError(f"cannot assume {role_arn}: {'; '.join(errors) or 'no region given'}")


def connect(
    env: Environment,
    *,
    role_arn: str | None = None,
    profile: str | None = None,
    client_factory: ClientFactory | None = None,
    action_client_factory: ClientFactory | None = None,
    session_name: str | None = None,
) -> AwsSession:
    """A session on the environment's account, verified (WrongAccountError otherwise)."""
    if client_factory is not None:
        aws = AwsSession(client_factory, action_client_factory=action_client_factory)
    else:
        aws = AwsSession.from_credentials(
            regions=env.regions,
            role_arn=role_arn,
            profile=profile,
            session_name=session_name or f"infra-{env.name}",
        )
    aws.verify_account(env)
    return aws
