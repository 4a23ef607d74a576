"""The failover handler end to end: moto for CloudWatch, DynamoDB, SNS (read back via SQS),
and a botocore Stubber for the RDS global-cluster calls, which moto does not implement."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambda_src.common.errors import ConfigurationError
from lambda_src.failover import handler as failover
from lambda_src.failover.config import load_settings
from lambda_src.failover.decision import Reason
from lambda_src.failover.events import parse_trigger
from lambda_src.failover.facts import FactClients
from lambda_src.failover.lock import LEASE_SECONDS, FailoverLock, LockNotAcquired
from tests.support.paths import EVENTS

REGION = "us-west-2"
PRIMARY_REGION = "us-east-1"
ACCOUNT = "123456789012"
GLOBAL_ID = "prod-global"
PRIMARY_ID = "prod-us-east-1"
SECONDARY_ID = "prod-us-west-2"
PRIMARY_ARN = f"arn:aws:rds:{PRIMARY_REGION}:{ACCOUNT}:cluster:{PRIMARY_ID}"
SECONDARY_ARN = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{SECONDARY_ID}"
NAMESPACE = "AuroraGlobal/Health"
TABLE = "prod-failover-lock"
TOPIC = "prod-failover-decisions"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}"

SETTINGS_ENV = {
    "AWS_REGION": REGION,
    "ENVIRONMENT": "prod",
    "GLOBAL_CLUSTER_ID": GLOBAL_ID,
    "SECONDARY_CLUSTER_ID": SECONDARY_ID,
    "SECONDARY_CLUSTER_ARN": SECONDARY_ARN,
    "PRIMARY_REGION": PRIMARY_REGION,
    "PRIMARY_CLUSTER_ID": PRIMARY_ID,
    "METRIC_NAMESPACE": NAMESPACE,
    "UNHEALTHY_MINUTES": "5",
    "RPO_BUDGET_SECONDS": "5",
    "COOLDOWN_MINUTES": "60",
    "LOCK_TABLE": TABLE,
    "NOTIFY_TOPIC_ARN": TOPIC_ARN,
    "DRY_RUN": "false",
}
EXPECTED_FAILOVER_REQUEST = {
    "GlobalClusterIdentifier": GLOBAL_ID,
    "TargetDbClusterIdentifier": SECONDARY_ARN,
    "AllowDataLoss": True,
}


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"failover_{name}.json").read_text())


@dataclass
class LambdaContext:
    aws_request_id: str = "req-0001"
    function_name: str = "prod-failover"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:prod-failover"


def describe_response(
    *, secondary_is_writer: bool = False, status: str = "available", failover_state: str | None = None
):
    cluster: dict[str, Any] = {
        "GlobalClusterIdentifier": GLOBAL_ID,
        "Status": status,
        "Engine": "aurora-mysql",
        "GlobalClusterMembers": [
            {"DBClusterArn": PRIMARY_ARN, "IsWriter": not secondary_is_writer, "Readers": [SECONDARY_ARN]},
            {"DBClusterArn": SECONDARY_ARN, "IsWriter": secondary_is_writer, "Readers": []},
        ],
    }
    if failover_state:
        cluster["FailoverState"] = {
            "Status": failover_state,
            "FromDbClusterArn": PRIMARY_ARN,
            "ToDbClusterArn": SECONDARY_ARN,
            "IsDataLossAllowed": True,
        }
    return {"GlobalClusters": [cluster]}


FAILOVER_RESPONSE = {
    "GlobalCluster": {
        "GlobalClusterIdentifier": GLOBAL_ID,
        "Status": "failing-over",
        "FailoverState": {
            "Status": "pending",
            "FromDbClusterArn": PRIMARY_ARN,
            "ToDbClusterArn": SECONDARY_ARN,
            "IsDataLossAllowed": True,
        },
    }
}


@dataclass
class StubbedRds:
    """An RDS client answering from a Stubber, recording every operation it is asked for."""

    client: Any
    stubber: Stubber
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def create(cls) -> StubbedRds:
        client = boto3.client("rds", region_name=REGION)
        rds = cls(client=client, stubber=Stubber(client))
        # provide-client-params fires before the Stubber answers, so even an unexpected call is recorded.
        client.meta.events.register(
            "provide-client-params.rds.*",
            lambda params, model, **_: rds.calls.append((model.name, dict(params))),
        )
        rds.stubber.activate()
        return rds

    def expect_describe(self, **kwargs: Any) -> None:
        self.stubber.add_response(
            "describe_global_clusters", describe_response(**kwargs), {"GlobalClusterIdentifier": GLOBAL_ID}
        )

    def expect_failover(self) -> None:
        self.stubber.add_response("failover_global_cluster", FAILOVER_RESPONSE, EXPECTED_FAILOVER_REQUEST)

    def failover_calls(self) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == "FailoverGlobalCluster"]


class World:
    """The AWS side of one test: metrics in both regions, the lock table, the topic."""

    def __init__(self) -> None:
        self.cloudwatch_primary = boto3.client("cloudwatch", region_name=PRIMARY_REGION)
        self.cloudwatch_local = boto3.client("cloudwatch", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "global_cluster_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "global_cluster_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.sns.create_topic(Name=TOPIC)
        self.queue_url = self.sqs.create_queue(QueueName="decisions")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=queue_arn)
        self.rds = StubbedRds.create()

    # Dimensions are listed in the order the function queries them (moto compares the lists).
    def put_health(
        self, cloudwatch: Any, metric: str, region: str, cluster: str, minutes_ago: int, value: float
    ) -> None:
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [
                        {"Name": "Environment", "Value": "prod"},
                        {"Name": "Region", "Value": region},
                        {"Name": "ClusterIdentifier", "Value": cluster},
                    ],
                    "Timestamp": datetime.now(UTC) - timedelta(minutes=minutes_ago),
                    "Value": value,
                    "Unit": "None",
                    "StorageResolution": 60,
                }
            ],
        )

    def primary_writer_healthy(self, *values_newest_first: float) -> None:
        for minutes_ago, value in enumerate(values_newest_first, start=1):
            self.put_health(
                self.cloudwatch_primary, "WriterHealthy", PRIMARY_REGION, PRIMARY_ID, minutes_ago, value
            )

    def secondary_reachable(self, value: float) -> None:
        self.put_health(self.cloudwatch_local, "Reachable", REGION, SECONDARY_ID, 1, value)
        # A reader by design: its WriterHealthy is 0 and must not count against it.
        self.put_health(self.cloudwatch_local, "WriterHealthy", REGION, SECONDARY_ID, 1, 0.0)

    def lag(self, metric: str, milliseconds: float) -> None:
        self.cloudwatch_local.put_metric_data(
            Namespace="AWS/RDS",
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [
                        {"Name": "DBClusterIdentifier", "Value": SECONDARY_ID},
                        {"Name": "SourceRegion", "Value": PRIMARY_REGION},
                    ],
                    "Timestamp": datetime.now(UTC) - timedelta(minutes=1),
                    "Value": milliseconds,
                    "Unit": "Milliseconds",
                }
            ],
        )

    def primary_down_secondary_ready(self) -> None:
        """The scenario the function exists for: 6 minutes of unhealthy primary, all else fine."""
        self.primary_writer_healthy(0, 0, 0, 0, 0, 0)
        self.secondary_reachable(1.0)
        self.lag("AuroraGlobalDBRPOLag", 900.0)

    def clients(self, rds: StubbedRds | None = None, dynamodb: Any = None) -> failover.Clients:
        rds = rds or self.rds
        return failover.Clients(
            facts=FactClients(
                cloudwatch_primary=self.cloudwatch_primary,
                cloudwatch_local=self.cloudwatch_local,
                rds=rds.client,
                dynamodb=dynamodb or self.dynamodb,
            ),
            rds_failover=rds.client,
            sns=self.sns,
        )

    def notifications(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        bodies = [json.loads(m["Body"]) for m in messages]
        return [
            {
                "subject": b.get("Subject"),
                "message": json.loads(b["Message"]),
                "attributes": {k: v["Value"] for k, v in b.get("MessageAttributes", {}).items()},
            }
            for b in bodies
        ]

    def lock_item(self) -> dict[str, Any] | None:
        return self.dynamodb.get_item(
            TableName=TABLE, Key={"global_cluster_id": {"S": GLOBAL_ID}}, ConsistentRead=True
        ).get("Item")


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(failover.logger.registered_formatter)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def named(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("message") == message]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        **SETTINGS_ENV,
    }.items():
        monkeypatch.setenv(name, value)
    # moto returns metric timestamps without a zone, which botocore reads as local time.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def world(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mock_aws():
        w = World()
        monkeypatch.setattr(failover, "_settings", None)
        monkeypatch.setattr(failover, "_clients", w.clients())
        yield w


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    failover.logger.addHandler(capture)
    yield capture
    logging.getLogger(failover.logger.name).removeHandler(capture)


def invoke(event: dict[str, Any], request_id: str = "req-0001") -> dict[str, Any]:
    return failover.handler(event, LambdaContext(aws_request_id=request_id))


# --- acting ---------------------------------------------------------------------------


def test_dead_primary_fails_over_to_this_secondary_with_data_loss_allowed(
    world: World, logs: LogCapture
) -> None:
    # GIVEN a primary unhealthy for 6 minutes, a reachable secondary 0.9 s behind, armed
    world.primary_down_secondary_ready()
    world.rds.expect_describe()
    world.rds.expect_failover()
    # WHEN the primary's writer-health alarm fires (EventBridge, forwarded cross-region)
    result = invoke(load_event("eventbridge_alarm"))
    # THEN the managed failover was requested once, with exactly these parameters
    assert (result["action"], result["reason"]) == ("failover", "failover_started")
    assert world.rds.failover_calls() == [EXPECTED_FAILOVER_REQUEST]
    world.rds.stubber.assert_no_pending_responses()
    # AND the lease was given back and the cooldown started
    item = world.lock_item()
    assert item is not None
    assert "lease_owner" not in item and "lease_expires_at" not in item
    assert abs(int(item["last_failover_at"]["N"]) - time.time()) < 60
    assert item["last_failover_by"] == {"S": "req-0001"}
    assert item["last_outcome"] == {"S": "failover_started"}
    assert int(item["expires_at"]["N"]) > int(item["last_failover_at"]["N"]) + 3600
    # AND one warning log line and one notification carry the decision and the facts
    [line] = logs.named("failover_decision")
    assert (line["level"], line["action"], line["reason"]) == ("WARNING", "failover", "failover_started")
    assert line["details"]["request"] == EXPECTED_FAILOVER_REQUEST
    [note] = world.notifications()
    assert note["subject"] == "[prod] Aurora failover failover: failover_started"
    assert note["attributes"] == {"action": "failover", "reason": "failover_started", "environment": "prod"}
    observed = note["message"]["details"]["observed"]
    assert observed["lag_ms"] == 900.0 and observed["lag_metric"] == "AuroraGlobalDBRPOLag"
    assert observed["secondary_reachable"]["value"] == 1.0
    assert [s["value"] for s in observed["primary_writer_health"]] == [0.0] * len(
        observed["primary_writer_health"]
    )
    assert note["message"]["details"]["response"]["FailoverState"]["Status"] == "pending"
    assert note["message"]["trigger"]["alarm_region"] == PRIMARY_REGION
    assert result["notified"] is True


def test_sns_alarm_notification_triggers_the_same_evaluation(world: World) -> None:
    world.primary_down_secondary_ready()
    world.rds.expect_describe()
    world.rds.expect_failover()
    result = invoke(load_event("sns_alarm"))
    assert (result["action"], result["reason"]) == ("failover", "failover_started")
    assert result["trigger"] == {
        "source": "sns",
        "alarm_name": "prod-us-east-1-writer-health",
        "state": "ALARM",
        "previous_state": "OK",
        "alarm_region": PRIMARY_REGION,
        "changed_at": "2025-01-15T10:05:00.000+0000",
    }
    assert world.rds.failover_calls() == [EXPECTED_FAILOVER_REQUEST]


def test_a_silent_primary_counts_as_unhealthy(world: World) -> None:
    # GIVEN the primary region published nothing at all (a dead region is silent)
    world.secondary_reachable(1.0)
    world.lag("AuroraGlobalDBRPOLag", 100.0)
    world.rds.expect_describe()
    world.rds.expect_failover()
    # WHEN the alarm reports insufficient data (SNS)
    result = invoke(load_event("sns_insufficient_data"))
    # THEN the function fails over
    assert (result["action"], result["reason"]) == ("failover", "failover_started")
    assert result["details"]["observed"]["primary_writer_health"] == []


def test_replication_lag_is_used_when_rpo_lag_has_no_datapoints(world: World) -> None:
    world.primary_writer_healthy(0, 0, 0, 0, 0, 0)
    world.secondary_reachable(1.0)
    world.lag("AuroraGlobalDBReplicationLag", 1200.0)
    world.rds.expect_describe()
    world.rds.expect_failover()
    result = invoke(load_event("eventbridge_alarm"))
    assert result["reason"] == "failover_started"
    assert result["details"]["observed"]["lag_metric"] == "AuroraGlobalDBReplicationLag"
    assert result["details"]["observed"]["lag_ms"] == 1200.0


# --- dry run --------------------------------------------------------------------------


def test_dry_run_reports_what_it_would_do_and_takes_no_lock(
    world: World, monkeypatch: pytest.MonkeyPatch, logs: LogCapture
) -> None:
    # GIVEN the default mode (DRY_RUN unset means dry run) and a primary that is down
    monkeypatch.delenv("DRY_RUN")
    world.primary_down_secondary_ready()
    world.rds.expect_describe()
    # WHEN the alarm fires
    result = invoke(load_event("eventbridge_alarm"))
    # THEN nothing is failed over, no lock item is written, and the would-be request is reported
    assert (result["action"], result["reason"], result["dry_run"]) == ("dry_run", "conditions_met", True)
    assert world.rds.failover_calls() == []
    assert world.lock_item() is None
    [note] = world.notifications()
    assert note["subject"] == "[prod] Aurora failover dry_run: conditions_met"
    assert note["message"]["details"]["would_request"] == EXPECTED_FAILOVER_REQUEST
    assert logs.named("failover_decision")[0]["action"] == "dry_run"


# --- refusing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("primary_recovered", "primary_healthy"),
        ("primary_blipped", "primary_not_unhealthy_long_enough"),
        ("secondary_unreachable", "secondary_unreachable"),
        ("no_lag_data", "lag_unknown"),
        ("lag_over_budget", "lag_over_budget"),
        ("failover_in_progress", "global_cluster_busy"),
        ("already_writer", "already_writer"),
    ],
)
def test_refusals_call_no_failover_and_notify_the_reason(
    world: World, logs: LogCapture, case: str, reason: str
) -> None:
    # GIVEN the ready scenario with one fact spoiled
    describe: dict[str, Any] = {}
    if case == "primary_recovered":
        world.primary_writer_healthy(1, 0, 0, 0, 0, 0)
    elif case == "primary_blipped":
        world.primary_writer_healthy(0, 0, 1, 0, 0, 0)
    else:
        world.primary_writer_healthy(0, 0, 0, 0, 0, 0)
    world.secondary_reachable(0.0 if case == "secondary_unreachable" else 1.0)
    if case == "lag_over_budget":
        world.lag("AuroraGlobalDBRPOLag", 5001.0)
    elif case != "no_lag_data":
        world.lag("AuroraGlobalDBRPOLag", 900.0)
    if case == "failover_in_progress":
        describe = {"status": "failing-over", "failover_state": "failing-over"}
    if case == "already_writer":
        describe = {"secondary_is_writer": True}
    world.rds.expect_describe(**describe)
    # WHEN the alarm fires
    result = invoke(load_event("eventbridge_alarm"))
    # THEN it refuses with that reason, calls no failover, takes no lock, and says so
    assert (result["action"], result["reason"]) == ("refuse", reason)
    assert world.rds.failover_calls() == []
    assert world.lock_item() is None
    [note] = world.notifications()
    assert note["attributes"]["reason"] == reason
    assert note["subject"] == f"[prod] Aurora failover refuse: {reason}"
    assert note["message"]["details"]["observed"] == result["details"]["observed"]
    [line] = logs.named("failover_decision")
    assert (line["level"], line["reason"]) == ("INFO", reason)


def test_unreadable_global_cluster_refuses_with_facts_unavailable(world: World) -> None:
    world.primary_down_secondary_ready()
    world.rds.stubber.add_client_error(
        "describe_global_clusters",
        service_error_code="Throttling",
        service_message="Rate exceeded",
        http_status_code=400,
    )
    result = invoke(load_event("eventbridge_alarm"))
    assert (result["action"], result["reason"]) == ("refuse", "facts_unavailable")
    assert "Rate exceeded" in result["details"]["unavailable"]["global_cluster"]
    assert world.rds.failover_calls() == []
    assert world.notifications()[0]["attributes"]["reason"] == "facts_unavailable"


def test_unreadable_primary_region_metrics_refuse_rather_than_count_as_silence(world: World) -> None:
    # GIVEN CloudWatch in the primary region answers with an error (not an empty result)
    world.primary_down_secondary_ready()
    world.rds.expect_describe()
    stubbed_cw = boto3.client("cloudwatch", region_name=PRIMARY_REGION)
    with Stubber(stubbed_cw) as cw_stub:
        cw_stub.add_client_error(
            "get_metric_data", service_error_code="InternalServiceError", http_status_code=500
        )
        clients = world.clients()
        clients = failover.Clients(
            facts=FactClients(
                cloudwatch_primary=stubbed_cw,
                cloudwatch_local=clients.facts.cloudwatch_local,
                rds=clients.facts.rds,
                dynamodb=clients.facts.dynamodb,
            ),
            rds_failover=clients.rds_failover,
            sns=clients.sns,
        )
        failover._clients = clients
        result = invoke(load_event("eventbridge_alarm"))
    # THEN the unknown fact is a refusal, not "missing data means unhealthy"
    assert (result["action"], result["reason"]) == ("refuse", "facts_unavailable")
    assert set(result["details"]["unavailable"]) == {"primary_writer_health"}
    assert world.rds.failover_calls() == []


def test_rejected_failover_releases_the_lease_without_starting_a_cooldown(world: World) -> None:
    world.primary_down_secondary_ready()
    world.rds.expect_describe()
    world.rds.stubber.add_client_error(
        "failover_global_cluster",
        service_error_code="InvalidGlobalClusterStateFault",
        service_message="The global cluster is not in a valid state",
        http_status_code=400,
        expected_params=EXPECTED_FAILOVER_REQUEST,
    )
    result = invoke(load_event("eventbridge_alarm"))
    assert (result["action"], result["reason"]) == ("failover", "failover_rejected")
    assert "InvalidGlobalClusterStateFault" in result["details"]["error"]
    item = world.lock_item()
    assert item is not None
    assert "lease_owner" not in item and "last_failover_at" not in item
    assert item["last_outcome"] == {"S": "failover_rejected"}


def test_alarm_back_to_ok_is_ignored_without_facts_or_notification(world: World, logs: LogCapture) -> None:
    result = invoke(load_event("eventbridge_ok"))
    assert result["action"] == "ignored" and result["reason"] == "alarm_not_in_alarm"
    assert world.rds.calls == []
    assert world.notifications() == []
    assert logs.named("failover_trigger_ignored")[0]["trigger"]["state"] == "OK"


def test_unknown_event_is_ignored_and_logged(world: World, logs: LogCapture) -> None:
    result = invoke({"hello": "world"})
    assert (result["action"], result["reason"]) == ("ignored", "unsupported_event")
    assert world.rds.calls == [] and world.notifications() == []
    assert logs.named("failover_trigger_ignored")


# --- lock and cooldown ----------------------------------------------------------------


def test_a_second_alarm_after_a_failover_is_refused_by_the_cooldown(world: World) -> None:
    # GIVEN a failover has just been started
    world.primary_down_secondary_ready()
    world.rds.expect_describe()
    world.rds.expect_failover()
    assert invoke(load_event("eventbridge_alarm"), "req-first")["reason"] == "failover_started"
    world.notifications()
    # WHEN the alarm fires again while RDS still reports the global cluster as before
    world.rds.expect_describe()
    result = invoke(load_event("sns_alarm"), "req-second")
    # THEN the second invocation refuses with cooldown and never calls failover again
    assert (result["action"], result["reason"]) == ("refuse", "cooldown")
    assert len(world.rds.failover_calls()) == 1
    assert result["details"]["observed"]["last_failover_at"] is not None
    [note] = world.notifications()
    assert note["attributes"]["reason"] == "cooldown"


def test_concurrent_invocations_fail_over_exactly_once(world: World) -> None:
    # GIVEN two invocations that both read the facts (an unhealthy primary, no lock yet)
    world.primary_down_secondary_ready()
    settings = load_settings(dict(SETTINGS_ENV))
    arrive = threading.Barrier(2, timeout=10)
    # moto's DynamoDB does not make a conditional write atomic across threads (real DynamoDB
    # does), so requests are serialized: the race is between the two invocations, not inside moto.
    one_request_at_a_time = threading.Lock()
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, BaseException] = {}
    rds_by_owner: dict[str, StubbedRds] = {}

    def dynamodb_client() -> Any:
        client = boto3.client("dynamodb", region_name=REGION)
        waited = threading.Event()

        def before_update(**_: Any) -> None:
            if not waited.is_set():  # both must reach the lock write before either takes it
                waited.set()
                arrive.wait()
            one_request_at_a_time.acquire()

        def after_update(**_: Any) -> None:
            one_request_at_a_time.release()

        client.meta.events.register("before-call.dynamodb.UpdateItem", before_update)
        client.meta.events.register("after-call.dynamodb.UpdateItem", after_update)
        client.meta.events.register("after-call-error.dynamodb.UpdateItem", after_update)
        return client

    for owner in ("req-a", "req-b"):
        rds = StubbedRds.create()
        rds.expect_describe()
        rds.expect_failover()
        rds_by_owner[owner] = rds
    clients_by_owner = {owner: world.clients(rds, dynamodb_client()) for owner, rds in rds_by_owner.items()}
    trigger = parse_trigger(load_event("eventbridge_alarm"))

    def run(owner: str) -> None:
        try:
            results[owner] = failover.evaluate(
                settings=settings,
                clients=clients_by_owner[owner],
                trigger=trigger,
                now=datetime.now(UTC),
                invocation_id=owner,
            )
        except BaseException as exc:
            errors[owner] = exc

    # WHEN they run at the same time
    threads = [threading.Thread(target=run, args=(owner,)) for owner in rds_by_owner]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    # THEN exactly one called failover; the other lost the conditional write
    assert errors == {}
    outcomes = sorted((r["action"], r["reason"]) for r in results.values())
    assert len(outcomes) == 2
    assert ("failover", "failover_started") in outcomes
    loser = next(o for o in outcomes if o[0] == "refuse")
    assert loser[1] in ("lock_held", "cooldown")
    assert sum(len(r.failover_calls()) for r in rds_by_owner.values()) == 1
    winner = next(owner for owner, r in results.items() if r["reason"] == "failover_started")
    loser_owner = next(owner for owner in results if owner != winner)
    assert results[loser_owner]["details"]["lock_at_acquire"] is not None
    item = world.lock_item()
    assert item is not None and item["last_failover_by"] == {"S": winner}
    assert {n["attributes"]["reason"] for n in world.notifications()} == {"failover_started", loser[1]}


def test_a_lease_left_by_a_crashed_invocation_blocks_until_it_expires(world: World) -> None:
    # GIVEN a lease taken by an invocation that never finished
    world.primary_down_secondary_ready()
    now = int(time.time())
    world.dynamodb.put_item(
        TableName=TABLE,
        Item={
            "global_cluster_id": {"S": GLOBAL_ID},
            "lease_owner": {"S": "req-crashed"},
            "lease_expires_at": {"N": str(now + LEASE_SECONDS - 30)},
        },
    )
    world.rds.expect_describe()
    # WHEN the alarm fires
    result = invoke(load_event("eventbridge_alarm"))
    # THEN it refuses with lock_held (and once the lease has expired it would act: decision table)
    assert (result["action"], result["reason"]) == ("refuse", "lock_held")
    assert result["details"]["observed"]["lease_owner"] == "req-crashed"
    assert world.rds.failover_calls() == []


def test_failover_call_without_a_clear_answer_still_starts_the_cooldown(world: World) -> None:
    # GIVEN RDS answers the failover call with a server error (the operation may have started)
    world.primary_down_secondary_ready()
    world.rds.expect_describe()
    world.rds.stubber.add_client_error(
        "failover_global_cluster",
        service_error_code="InternalFailure",
        http_status_code=500,
        expected_params=EXPECTED_FAILOVER_REQUEST,
    )
    result = invoke(load_event("eventbridge_alarm"))
    # THEN the outcome is reported as unknown and treated as an action (cooldown started)
    assert (result["action"], result["reason"]) == ("failover", "failover_outcome_unknown")
    item = world.lock_item()
    assert item is not None and "last_failover_at" in item and "lease_owner" not in item
    assert world.notifications()[0]["attributes"]["reason"] == "failover_outcome_unknown"


def test_lock_write_refuses_an_invocation_that_read_the_facts_before_another_failed_over(
    world: World,
) -> None:
    # GIVEN invocation a took the lease, failed over and gave the lease back
    lock = FailoverLock(world.dynamodb, TABLE, GLOBAL_ID)
    cooldown = timedelta(minutes=60)
    now = datetime.now(UTC)
    lock.acquire(owner="a", now=now, cooldown=cooldown)
    lock.record_failover(owner="a", now=now, outcome="failover_started", cooldown=cooldown)
    # WHEN invocation b, which saw no lock when it read the facts, tries to take the lease
    with pytest.raises(LockNotAcquired) as raised:
        lock.acquire(owner="b", now=now + timedelta(seconds=5), cooldown=cooldown)
    # THEN the conditional write itself enforces the cooldown
    assert raised.value.reason is Reason.COOLDOWN
    assert raised.value.state.last_failover_at is not None
    # AND once the cooldown is over the lease can be taken again
    lock.acquire(owner="c", now=now + cooldown + timedelta(seconds=1), cooldown=cooldown)
    assert lock.read().lease_owner == "c"


def test_an_expired_lease_can_be_taken_over_and_its_old_owner_cannot_record(world: World) -> None:
    lock = FailoverLock(world.dynamodb, TABLE, GLOBAL_ID)
    cooldown = timedelta(minutes=60)
    now = datetime.now(UTC)
    lock.acquire(owner="a", now=now, cooldown=cooldown)
    with pytest.raises(LockNotAcquired) as raised:
        lock.acquire(owner="b", now=now + timedelta(seconds=LEASE_SECONDS - 1), cooldown=cooldown)
    assert raised.value.reason is Reason.LOCK_HELD
    lock.acquire(owner="b", now=now + timedelta(seconds=LEASE_SECONDS + 1), cooldown=cooldown)
    with pytest.raises(world.dynamodb.exceptions.ConditionalCheckFailedException):
        lock.record_failover(owner="a", now=now, outcome="failover_started", cooldown=cooldown)
    assert lock.read().lease_owner == "b"


# --- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("GLOBAL_CLUSTER_ID", None, "GLOBAL_CLUSTER_ID must be a non-empty string; got <unset>"),
        ("UNHEALTHY_MINUTES", "five", "UNHEALTHY_MINUTES must be an integer from 1 to 1440; got 'five'"),
        ("COOLDOWN_MINUTES", "0", "COOLDOWN_MINUTES must be an integer from 1 to 43200; got '0'"),
        (
            "RPO_BUDGET_SECONDS",
            "-1",
            "RPO_BUDGET_SECONDS must be a number of seconds greater than 0; got '-1'",
        ),
        ("DRY_RUN", "yes", 'DRY_RUN must be "true" or "false"; got \'yes\''),
        (
            "PRIMARY_REGION",
            REGION,
            "PRIMARY_REGION must be a region other than this function's own (us-west-2)",
        ),
        (
            "SECONDARY_CLUSTER_ARN",
            f"arn:aws:rds:eu-west-1:{ACCOUNT}:cluster:{SECONDARY_ID}",
            "SECONDARY_CLUSTER_ARN must be the ARN of SECONDARY_CLUSTER_ID (prod-us-west-2) in this region",
        ),
        ("METRIC_NAMESPACE", "AWS/RDS", "METRIC_NAMESPACE must be a custom namespace"),
        (
            "NOTIFY_TOPIC_ARN",
            f"{TOPIC_ARN}.fifo",
            "NOTIFY_TOPIC_ARN must be a standard (non-FIFO) SNS topic ARN",
        ),
    ],
)
def test_configuration_errors_name_the_variable_the_rule_and_the_value(
    name: str, value: str | None, expected: str
) -> None:
    env = dict(SETTINGS_ENV)
    if value is None:
        del env[name]
    else:
        env[name] = value
    with pytest.raises(ConfigurationError) as raised:
        load_settings(env)
    assert str(raised.value).startswith(expected)
    assert "Fix:" in str(raised.value)


def test_handler_with_bad_configuration_fails_the_invocation(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPO_BUDGET_SECONDS", "soon")
    monkeypatch.setattr(failover, "_settings", None)
    with pytest.raises(ConfigurationError, match="RPO_BUDGET_SECONDS"):
        invoke(load_event("eventbridge_alarm"))


def test_settings_default_to_dry_run() -> None:
    env = {k: v for k, v in SETTINGS_ENV.items() if k != "DRY_RUN"}
    assert load_settings(env).policy.dry_run is True


def test_scheduled_recheck_fails_over_once_the_outage_has_lasted_long_enough(world: World) -> None:
    # GIVEN the alarm notification came and went; the primary is still down and the secondary ready
    world.primary_down_secondary_ready()
    world.rds.expect_describe()
    world.rds.expect_failover()
    # WHEN the every-minute schedule invokes the function
    result = invoke(load_event("scheduled"))
    # THEN it evaluates the facts itself and fails over, like an alarm trigger would
    assert (result["action"], result["reason"]) == ("failover", "failover_started")
    assert result["trigger"]["source"] == "schedule"
    assert world.rds.failover_calls() == [EXPECTED_FAILOVER_REQUEST]
    assert result["notified"] is True


def test_scheduled_recheck_of_a_healthy_primary_logs_but_notifies_no_one(
    world: World, logs: LogCapture
) -> None:
    # GIVEN a healthy primary
    world.primary_writer_healthy(1, 1, 1, 1, 1, 1)
    world.secondary_reachable(1.0)
    world.lag("AuroraGlobalDBRPOLag", 900.0)
    world.rds.expect_describe()
    # WHEN the schedule invokes the function
    result = invoke(load_event("scheduled"))
    # THEN it refuses as primary_healthy, logs the decision, and sends no notification
    assert (result["action"], result["reason"]) == ("refuse", "primary_healthy")
    assert result["notified"] is False
    assert world.notifications() == []
    assert world.rds.failover_calls() == []
    [line] = logs.named("failover_decision")
    assert line["reason"] == "primary_healthy"
