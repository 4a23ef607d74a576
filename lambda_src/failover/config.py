"""The failover function's environment, validated once per cold start.

Messages name the variable, state the rule and show the value, so a bad deployment is
fixed from the error alone. A bad value stops every invocation (ConfigurationError),
which is the safe direction: no failover happens on a misread setting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lambda_src.common.errors import ConfigurationError
from lambda_src.failover.decision import Policy

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_CLUSTER_ARN = re.compile(
    r"^arn:aws[a-z-]*:rds:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):cluster:(?P<cluster>[A-Za-z0-9-]+)$"
)
# A FIFO topic would need a MessageGroupId on every publish; notifications go to a standard topic.
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$")
_FIX = "Fix: set it in the environment's failover settings and redeploy."


@dataclass(frozen=True, kw_only=True)
class Settings:
    region: str
    """This (secondary) region, from the Lambda runtime's AWS_REGION."""
    environment: str
    global_cluster_id: str
    secondary_cluster_id: str
    secondary_cluster_arn: str
    primary_region: str
    primary_cluster_id: str
    metric_namespace: str
    lock_table: str
    notify_topic_arn: str
    policy: Policy

    @property
    def notify_topic_region(self) -> str:
        match = _TOPIC_ARN.match(self.notify_topic_arn)
        assert match is not None  # validated in load_settings
        return match["region"]


def _fail(name: str, rule: str, value: str | None) -> ConfigurationError:
    shown = "<unset>" if value is None else repr(value)
    return ConfigurationError(f"{name} must be {rule}; got {shown}. {_FIX}")


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None or not value.strip():
        raise _fail(name, "a non-empty string", value)
    return value.strip()


def _integer(env: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = env.get(name)
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise _fail(name, f"an integer from {low} to {high}", raw)
    return value


def _positive_number(env: Mapping[str, str], name: str) -> float:
    raw = env.get(name)
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise _fail(name, "a number of seconds greater than 0", raw)
    return value


def _boolean(env: Mapping[str, str], name: str, default: str) -> bool:
    raw = env.get(name, default)
    # Strict on purpose: a typo must not arm automated failover.
    if raw.strip().lower() not in ("true", "false"):
        raise _fail(name, '"true" or "false"', raw)
    return raw.strip().lower() == "true"


def _region(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None or not _REGION.match(value):
        raise _fail(name, "an AWS region name such as 'us-east-1'", value)
    return value


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read and check every variable; raise ConfigurationError on the first bad one."""
    region = _region(env, "AWS_REGION")
    primary_region = _region(env, "PRIMARY_REGION")
    if primary_region == region:
        raise _fail(
            "PRIMARY_REGION",
            f"a region other than this function's own ({region}); deploy it in a secondary",
            primary_region,
        )
    secondary_cluster_id = _required(env, "SECONDARY_CLUSTER_ID")
    arn = _required(env, "SECONDARY_CLUSTER_ARN")
    match = _CLUSTER_ARN.match(arn)
    if match is None:
        raise _fail(
            "SECONDARY_CLUSTER_ARN", "an RDS cluster ARN (arn:aws:rds:<region>:<account>:cluster:<id>)", arn
        )
    if match["region"] != region or match["cluster"] != secondary_cluster_id:
        raise _fail(
            "SECONDARY_CLUSTER_ARN",
            f"the ARN of SECONDARY_CLUSTER_ID ({secondary_cluster_id}) in this region ({region}), because "
            "the facts checked (reachability, lag) are this region's",
            arn,
        )
    namespace = _required(env, "METRIC_NAMESPACE")
    if namespace.startswith("AWS/"):
        raise _fail("METRIC_NAMESPACE", "a custom namespace (the 'AWS/' prefix is reserved)", namespace)
    topic = _required(env, "NOTIFY_TOPIC_ARN")
    if not _TOPIC_ARN.match(topic):
        raise _fail("NOTIFY_TOPIC_ARN", "a standard (non-FIFO) SNS topic ARN", topic)
    return Settings(
        region=region,
        environment=_required(env, "ENVIRONMENT"),
        global_cluster_id=_required(env, "GLOBAL_CLUSTER_ID"),
        secondary_cluster_id=secondary_cluster_id,
        secondary_cluster_arn=arn,
        primary_region=primary_region,
        primary_cluster_id=_required(env, "PRIMARY_CLUSTER_ID"),
        metric_namespace=namespace,
        lock_table=_required(env, "LOCK_TABLE"),
        notify_topic_arn=topic,
        policy=Policy(
            unhealthy_minutes=_integer(env, "UNHEALTHY_MINUTES", 1, 1440),
            rpo_budget_seconds=_positive_number(env, "RPO_BUDGET_SECONDS"),
            cooldown_minutes=_integer(env, "COOLDOWN_MINUTES", 1, 43200),
            dry_run=_boolean(env, "DRY_RUN", "true"),
        ),
    )
