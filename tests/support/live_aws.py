"""Fakes of a live environment for `infra status`, failover and the engine's LiveView: botocore Stubber for RDS (moto has no
global-cluster failover/switchover) and Route 53 (moto's GetHealthCheckStatus always answers
Success), moto for CloudWatch and STS. A dead region is a real client whose endpoint refuses
connections."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from lambda_src.health.check import CheckResult, HealthConfig, publish_metrics
from lambda_src.health.check import Reason as HealthReason
from model.environment import Environment, parse_environment
from model.naming import HEALTH_NAMESPACE
from orchestrator.operate.aws import (
    AwsSession,
)
from tests.support.failover import create_failover_table

ACCOUNT = "123456789012"  # moto's account: STS answers with it
ENGINE = "8.0.mysql_aurora.3.10.3"
GLOBAL_ID = "prod-aurora-global"
PRIMARY, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
SHORT = {PRIMARY: "use1", WEST: "usw2", EU: "euw1"}
ZONE_ID = "Z0123456789ABCDEFGHIJ"
GLOBAL_ENDPOINT = "prod-aurora-global.global-abc123.global.rds.amazonaws.com"


def env_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "prod",
        "account_id": ACCOUNT,
        "deploy_role_arn": f"arn:aws:iam::{ACCOUNT}:role/aurora-deploy",
        "primary_region": PRIMARY,
        "secondary_regions": [WEST, EU],
        "deletion_policy": "protected",
        "cost_center": "db-platform",
        "network": {"cidrs": {PRIMARY: "10.30.0.0/16", WEST: "10.31.0.0/16", EU: "10.32.0.0/16"}},
        "database": {
            "engine_version": ENGINE,
            "engine_lifecycle_support": "open-source-rds-extended-support-disabled",
        },
        "monitoring": {"replication_lag_threshold_ms": 10_000},
        "dns": {"zone_name": "prod.db.internal"},
    }
    data.update(overrides)
    return data


def make_env(**overrides: Any) -> Environment:
    return parse_environment(env_data(**overrides), path="environments/prod.yaml")


def cluster_id(region: str) -> str:
    return f"prod-aurora-{SHORT[region]}"


def cluster_arn(region: str) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:cluster:{cluster_id(region)}"


def cluster_endpoint(region: str) -> str:
    return f"{cluster_id(region)}.cluster-abc123.{region}.rds.amazonaws.com"


def global_cluster(
    *,
    writer: str | None = PRIMARY,
    members: tuple[str, ...] = (PRIMARY, WEST, EU),
    status: str = "available",
    failover_state: dict[str, Any] | None = None,
    sync: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A DescribeGlobalClusters answer."""
    sync = sync or {}
    cluster: dict[str, Any] = {
        "GlobalClusterIdentifier": GLOBAL_ID,
        "GlobalClusterArn": f"arn:aws:rds::{ACCOUNT}:global-cluster:{GLOBAL_ID}",
        "Status": status,
        "Engine": "aurora-mysql",
        "EngineVersion": ENGINE,
        "Endpoint": GLOBAL_ENDPOINT,
        "GlobalClusterMembers": [
            {
                "DBClusterArn": cluster_arn(region),
                "IsWriter": region == writer,
                "Readers": [cluster_arn(r) for r in members if r != region] if region == writer else [],
                **({} if region == writer else {"SynchronizationStatus": sync.get(region, "connected")}),
            }
            for region in members
        ],
    }
    if failover_state:
        cluster["FailoverState"] = failover_state
    return {"GlobalClusters": [cluster]}


def db_cluster(region: str, *, engine: str = ENGINE, status: str = "available") -> dict[str, Any]:
    """A DescribeDBClusters answer."""
    return {
        "DBClusters": [
            {
                "DBClusterIdentifier": cluster_id(region),
                "DBClusterArn": cluster_arn(region),
                "Status": status,
                "Endpoint": cluster_endpoint(region),
                "ReaderEndpoint": cluster_endpoint(region).replace(".cluster-", ".cluster-ro-"),
                "EngineVersion": engine,
            }
        ]
    }


class AwsFakes:
    """Clients per (service, region): Stubber-backed, moto-backed or dead. A client the test did
    not provide fails the test loudly."""

    def __init__(self) -> None:
        self.read: dict[tuple[str, str], Any] = {}
        self.action: dict[tuple[str, str], Any] = {}
        self.stubbers: list[Stubber] = []

    def _stub(self, table: dict[tuple[str, str], Any], service: str, region: str) -> Stubber:
        client = boto3.client(service, region_name=region)
        stubber = Stubber(client)
        stubber.activate()
        table[(service, region)] = client
        self.stubbers.append(stubber)
        return stubber

    def stub(self, service: str, region: str) -> Stubber:
        return self._stub(self.read, service, region)

    def stub_action(self, service: str, region: str) -> Stubber:
        return self._stub(self.action, service, region)

    def moto(self, service: str, region: str) -> Any:
        self.read[(service, region)] = client = boto3.client(service, region_name=region)
        return client

    def dead(self, region: str, *services: str) -> None:
        # Connection refused at once: the shape of a region whose endpoints cannot be reached.
        config = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})
        for service in services:
            self.read[(service, region)] = boto3.client(
                service, region_name=region, endpoint_url="http://127.0.0.1:9", config=config
            )

    def read_factory(self, service: str, region: str) -> Any:
        if (service, region) not in self.read:
            raise AssertionError(f"unexpected client: {service} in {region}")
        return self.read[(service, region)]

    def action_factory(self, service: str, region: str) -> Any:
        if (service, region) not in self.action:
            raise AssertionError(f"unexpected action client: {service} in {region}")
        return self.action[(service, region)]

    def session(self) -> AwsSession:
        return AwsSession(self.read_factory, action_client_factory=self.action_factory)

    def assert_all_responses_used(self) -> None:
        for stubber in self.stubbers:
            stubber.assert_no_pending_responses()


def aws_fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsFakes]:
    """Fake credentials, moto active, and an empty AwsFakes (shared with test_failover_ops)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": PRIMARY,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield AwsFakes()


def failover_table(region: str) -> str:
    return f"prod-aurora-{SHORT[region]}-failover"


def given_failover_tables(aws: AwsFakes, regions: tuple[str, ...] = (PRIMARY, WEST, EU)) -> dict[str, Any]:
    """The failover stack's tables (components/failover_table.py: pk/sk strings) in moto;
    returns the DynamoDB client of each region."""
    clients: dict[str, Any] = {}
    for region in regions:
        client = aws.read.get(("dynamodb", region)) or aws.moto("dynamodb", region)
        if failover_table(region) in client.list_tables()["TableNames"]:
            clients[region] = client
            continue
        create_failover_table(client, failover_table(region))
        clients[region] = client
    return clients


def without_failover_tables(aws: AwsFakes, regions: tuple[str, ...] = (PRIMARY, WEST, EU)) -> None:
    """DynamoDB answers but the failover stack was never deployed (ResourceNotFoundException)."""
    for region in regions:
        aws.read.setdefault(("dynamodb", region), boto3.client("dynamodb", region_name=region))


def put_alarms(
    cloudwatch: Any, region: str, *, lag_alarm: bool, states: dict[str, str] | None = None
) -> None:
    """The alarms components/monitoring.py creates, named <env>-aurora-<short>-<suffix>."""
    suffixes = ["writer-health", "unreachable", "cpu", "freeable-memory", "connections"]
    if lag_alarm:
        suffixes.append("replication-lag")
    for suffix in suffixes:
        name = f"prod-aurora-{SHORT[region]}-{suffix}"
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace=HEALTH_NAMESPACE,
            MetricName="WriterHealthy",
            Statistic="Minimum",
            Period=60,
            EvaluationPeriods=3,
            Threshold=1,
            ComparisonOperator="LessThanThreshold",
        )
        cloudwatch.set_alarm_state(
            AlarmName=name, StateValue=(states or {}).get(suffix, "OK"), StateReason="test"
        )


def publish_health(cloudwatch: Any, region: str, *, writer: bool, at: datetime) -> None:
    """Through the health-check Lambda's own publisher: status reads the metric contract it writes."""
    config = HealthConfig(
        secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
        db_host=cluster_endpoint(region),
        namespace=HEALTH_NAMESPACE,
        environment="prod",
        region=region,
        cluster_id=cluster_id(region),
    )
    result = CheckResult(
        reachable=True,
        writer=writer,
        reason=HealthReason.OK if writer else HealthReason.READ_ONLY,
        latency_ms=3.0,
    )
    publish_metrics(cloudwatch, config, result, timestamp=at)


def put_lag(cloudwatch: Any, region: str, *, source: str, value_ms: float, at: datetime, metric: str) -> None:
    cloudwatch.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "DBClusterIdentifier", "Value": cluster_id(region)},
                    {"Name": "SourceRegion", "Value": source},
                ],
                "Timestamp": at,
                "Value": value_ms,
                "Unit": "Milliseconds",
            }
        ],
    )


# --- Route 53 fixtures (Stubber) --------------------------------------------------------------


def stub_dns(
    aws: AwsFakes,
    *,
    health: dict[str, str | Exception],
    secondary: str = WEST,
) -> Stubber:
    route53 = aws.stub("route53", "us-east-1")
    route53.add_response(
        "list_hosted_zones_by_name",
        {
            "HostedZones": [
                {
                    "Id": f"/hostedzone/{ZONE_ID}",
                    "Name": "prod.db.internal.",
                    "CallerReference": "pulumi",
                    "Config": {"PrivateZone": True},
                }
            ],
            "IsTruncated": False,
            "MaxItems": "100",
        },
        {"DNSName": "prod.db.internal."},
    )

    def failover_record(role: str, region: str) -> dict[str, Any]:
        return {
            "Name": "writer.prod.db.internal.",
            "Type": "CNAME",
            "SetIdentifier": f"prod-writer-{region}",
            "Failover": role,
            "TTL": 5,
            "ResourceRecords": [{"Value": cluster_endpoint(region)}],
            "HealthCheckId": f"hc-{region}",
        }

    route53.add_response(
        "list_resource_record_sets",
        {
            "ResourceRecordSets": [
                failover_record("PRIMARY", PRIMARY),
                failover_record("SECONDARY", secondary),
                {
                    "Name": "reader.eu-west-1.prod.db.internal.",
                    "Type": "CNAME",
                    "TTL": 5,
                    "ResourceRecords": [{"Value": "x"}],
                },
            ],
            "IsTruncated": False,
            "MaxItems": "300",
        },
        {"HostedZoneId": ZONE_ID, "StartRecordName": "writer.prod.db.internal.", "StartRecordType": "CNAME"},
    )
    for region in (PRIMARY, secondary):
        answer = health[region]
        if isinstance(answer, Exception):
            route53.add_client_error(
                "get_health_check_status", service_error_code="Throttling", http_status_code=400
            )
            continue
        route53.add_response(
            "get_health_check_status",
            {
                "HealthCheckObservations": [
                    {
                        "Region": checker,
                        "IPAddress": "192.0.2.1",
                        "StatusReport": {"Status": answer, "CheckedTime": datetime(2026, 1, 1, tzinfo=UTC)},
                    }
                    for checker in ("us-east-1", "eu-west-1", "ap-southeast-1")
                ]
            },
            {"HealthCheckId": f"hc-{region}"},
        )
    return route53


HEALTHY = "Success: HTTP Status Code 200, OK"
UNHEALTHY = "Failure: The alarm is in the ALARM state"


def healthy_deployment(aws: AwsFakes, now: datetime, *, writer: str = PRIMARY) -> None:
    """Global cluster, clusters, alarms, health metrics, lag and failover tables of a running deployment."""
    given_failover_tables(aws)
    readers = [r for r in (PRIMARY, WEST, EU) if r != writer]
    rds_first = aws.stub("rds", PRIMARY)
    rds_first.add_response(
        "describe_global_clusters", global_cluster(writer=writer), {"GlobalClusterIdentifier": GLOBAL_ID}
    )
    for region in (PRIMARY, WEST, EU):
        stubber = rds_first if region == PRIMARY else aws.stub("rds", region)
        stubber.add_response(
            "describe_db_clusters", db_cluster(region), {"DBClusterIdentifier": cluster_arn(region)}
        )
        cloudwatch = aws.moto("cloudwatch", region)
        put_alarms(
            cloudwatch,
            region,
            lag_alarm=True,
            states={} if region == writer else {"writer-health": "ALARM"},
        )
        publish_health(cloudwatch, region, writer=region == writer, at=now - timedelta(minutes=1))
    for index, region in enumerate(readers):
        cloudwatch = aws.read[("cloudwatch", region)]
        put_lag(
            cloudwatch,
            region,
            source=writer,
            value_ms=120.0 + index,
            at=now - timedelta(minutes=2),
            metric="AuroraGlobalDBRPOLag",
        )


# --- status -----------------------------------------------------------------------------------


def given_live_state(
    aws: AwsFakes,
    *,
    target: str = WEST,
    global_answer: dict[str, Any] | None = None,
    engines: dict[str, str] | None = None,
    lag_ms: float | None = 150.0,
    writer: str = PRIMARY,
    tables: bool = True,
) -> None:
    """The reads plan_failover makes: the global cluster (in the target's region first), each
    member's cluster in its own region (switchover), the target's lag in its region, and the
    flight lock in the failover tables (deployed unless ``tables`` is false)."""
    if tables:
        given_failover_tables(aws)
    else:
        without_failover_tables(aws)
    answer = global_answer or global_cluster(writer=writer)
    stubbers = {region: aws.stub("rds", region) for region in (PRIMARY, WEST, EU)}
    stubbers[target].add_response("describe_global_clusters", answer, {"GlobalClusterIdentifier": GLOBAL_ID})
    members = [m["DBClusterArn"] for m in answer["GlobalClusters"][0]["GlobalClusterMembers"]]
    for arn in members:
        region = arn.split(":")[3]
        engine = (engines or {}).get(region)
        response = db_cluster(region, **({"engine": engine} if engine else {}))
        stubbers[region].add_response("describe_db_clusters", response, {"DBClusterIdentifier": arn})
    cloudwatch = aws.moto("cloudwatch", target)
    if lag_ms is not None:
        put_lag(
            cloudwatch,
            target,
            source=writer,
            value_ms=lag_ms,
            at=datetime.now(UTC) - timedelta(minutes=1),
            metric="AuroraGlobalDBRPOLag",
        )


def stub_dns_chain(aws: AwsFakes) -> Any:
    """Route 53 as the DNS stack deploys the writer name: a failover chain over the three regions,
    each region's record on a CALCULATED check (which GetHealthCheckStatus does not report: the
    status falls back on the alarms), ending in Aurora's global writer endpoint."""
    route53 = aws.stub("route53", "us-east-1")
    route53.add_response(
        "list_hosted_zones_by_name",
        {
            "HostedZones": [
                {
                    "Id": f"/hostedzone/{ZONE_ID}",
                    "Name": "prod.db.internal.",
                    "CallerReference": "x",
                    "Config": {"PrivateZone": True},
                }
            ],
            "IsTruncated": False,
            "MaxItems": "100",
        },
        {"DNSName": "prod.db.internal."},
    )
    chain = [PRIMARY, WEST, EU]
    names = ["writer.prod.db.internal."] + [f"chain-{i}.writer.prod.db.internal." for i in (2, 3)]
    for level, region in enumerate(chain):
        primary = {
            "Name": names[level],
            "Type": "CNAME",
            "SetIdentifier": f"prod-writer-{region}",
            "Failover": "PRIMARY",
            "TTL": 5,
            "ResourceRecords": [{"Value": cluster_endpoint(region)}],
            "HealthCheckId": f"hc-alone-{region}",
        }
        if level + 1 < len(chain):
            secondary = {
                "Name": names[level],
                "Type": "CNAME",
                "SetIdentifier": f"prod-writer-after-{region}",
                "Failover": "SECONDARY",
                "AliasTarget": {
                    "HostedZoneId": ZONE_ID,
                    "DNSName": names[level + 1],
                    "EvaluateTargetHealth": True,
                },
            }
        else:
            secondary = {
                "Name": names[level],
                "Type": "CNAME",
                "SetIdentifier": "prod-writer-global-endpoint",
                "Failover": "SECONDARY",
                "TTL": 5,
                "ResourceRecords": [{"Value": GLOBAL_ENDPOINT}],
            }
        route53.add_response(
            "list_resource_record_sets",
            {"ResourceRecordSets": [primary, secondary], "IsTruncated": False, "MaxItems": "300"},
            {"HostedZoneId": ZONE_ID, "StartRecordName": names[level], "StartRecordType": "CNAME"},
        )
        route53.add_client_error(
            "get_health_check_status",
            service_error_code="InvalidInput",
            service_message="GetHealthCheckStatus doesn't support calculated health checks",
            http_status_code=400,
            expected_params={"HealthCheckId": f"hc-alone-{region}"},
        )
    return route53
