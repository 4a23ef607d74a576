"""The decider's environment, validated once per cold start (see ``handler`` for the list)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lambda_src.common import envvars as ev
from lambda_src.failover.budget import Timing

_CLUSTER_ARN = re.compile(
    r"^arn:aws[a-z-]*:rds:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):cluster:(?P<cluster>[A-Za-z0-9-]+)$"
)
# A FIFO topic would need a MessageGroupId on every publish; notifications go to a standard topic.
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$")


@dataclass(frozen=True, kw_only=True)
class Settings:
    region: str
    environment: str
    global_cluster_id: str
    regions: tuple[str, ...]
    """Environment order: home region first, then secondary_regions."""
    cluster_arns: dict[str, str]
    tables: dict[str, str]
    metric_namespace: str
    notify_topic_arn: str
    timing: Timing
    dry_run: bool = True
    armed_by_default: bool = True
    loop_seconds: float = 50.0

    @property
    def own_cluster_arn(self) -> str:
        return self.cluster_arns[self.region]

    def cluster_id(self, region: str) -> str:
        return self.cluster_arns[region].rsplit(":", 1)[-1]


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read and check every variable; raise ConfigurationError on the first bad one."""
    region = ev.region(env, "AWS_REGION")
    regions = ev.region_list(env, "REGIONS")
    if region not in regions:
        raise ev.fail(
            "REGIONS", f"a list that contains this function's own region ({region})", env.get("REGIONS")
        )
    if len(regions) < 2:
        raise ev.fail(
            "REGIONS",
            "at least two regions (automated failover needs a region to promote)",
            env.get("REGIONS"),
        )
    arns = ev.region_map(env, "CLUSTER_ARNS", regions)
    for r, arn in arns.items():
        match = _CLUSTER_ARN.match(arn)
        if match is None or match["region"] != r:
            raise ev.fail("CLUSTER_ARNS", f"RDS cluster ARNs in the region of their key ({r})", arn)
    topic = ev.required(env, "NOTIFY_TOPIC_ARN")
    topic_match = _TOPIC_ARN.match(topic)
    if topic_match is None or topic_match["region"] != region:
        raise ev.fail(
            "NOTIFY_TOPIC_ARN",
            f"a standard SNS topic ARN in this region ({region}), which is alive when it acts",
            topic,
        )
    namespace = ev.required(env, "METRIC_NAMESPACE")
    if namespace.startswith("AWS/"):
        raise ev.fail("METRIC_NAMESPACE", "a custom namespace (the 'AWS/' prefix is reserved)", namespace)
    timing = Timing(
        window_seconds=ev.integer(env, "WINDOW_SECONDS", 30, 3600),
        probe_interval_seconds=ev.integer(env, "PROBE_INTERVAL_SECONDS", 1, 60),
        probe_attempt_seconds=ev.integer(env, "PROBE_ATTEMPT_SECONDS", 1, 59),
        decider_interval_seconds=ev.integer(env, "DECIDER_INTERVAL_SECONDS", 1, 60),
        rpo_budget_seconds=ev.seconds(env, "RPO_BUDGET_SECONDS", 1, 86400),
        cooldown_seconds=ev.integer(env, "COOLDOWN_SECONDS", 60, 30 * 86400),
        vantage_regions=len(regions) - 1,
    )
    return Settings(
        region=region,
        environment=ev.required(env, "ENVIRONMENT"),
        global_cluster_id=ev.required(env, "GLOBAL_CLUSTER_ID"),
        regions=regions,
        cluster_arns=arns,
        tables=ev.region_map(env, "FAILOVER_TABLES", regions),
        metric_namespace=namespace,
        notify_topic_arn=topic,
        timing=timing,
        dry_run=ev.boolean(env, "DRY_RUN", "true"),
        armed_by_default=ev.boolean(env, "ARMED_BY_DEFAULT", "true"),
        loop_seconds=ev.seconds(env, "LOOP_SECONDS", 0, 840, default=50.0),
    )
