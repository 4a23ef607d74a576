"""The decider's handler end to end: moto DynamoDB tables and SNS per region, a fake RDS, sample events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambda_src.common.errors import ConfigurationError
from lambda_src.failover import handler as decider
from lambda_src.failover.budget import PROD
from lambda_src.failover.config import Settings, load_settings
from lambda_src.failover.decision import Veto, VetoState
from lambda_src.failover.lock import read_arm, read_locks, set_arm
from lambda_src.failover.store import DynamoRegionStore
from tests.support.failover import (
    ACCOUNT,
    FIRST,
    GLOBAL_ID,
    HOME,
    ONSET,
    REGIONS,
    SECOND,
    TABLE,
    FakeRds,
    ImmediateVeto,
    cluster_arn,
    create_failover_table,
    describe_global_clusters,
    outage_history,
)
from tests.support.paths import EVENTS

READY = ONSET + PROD.window_seconds + 2 * PROD.probe_interval_seconds


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"failover_{name}.json").read_text())


class Context:
    aws_request_id = "req-0001"
    function_name = "prod-aurora-usw2-decider"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{FIRST}:{ACCOUNT}:function:prod-aurora-usw2-decider"

    def get_remaining_time_in_millis(self) -> int:
        return 70_000


ENV = {
    "AWS_REGION": FIRST,
    "ENVIRONMENT": "prod",
    "GLOBAL_CLUSTER_ID": GLOBAL_ID,
    "REGIONS": ",".join(REGIONS),
    "CLUSTER_ARNS": json.dumps({r: cluster_arn(r) for r in REGIONS}),
    "FAILOVER_TABLES": json.dumps({r: TABLE for r in REGIONS}),
    "METRIC_NAMESPACE": "AuroraGlobal/Health",
    "NOTIFY_TOPIC_ARN": f"arn:aws:sns:{FIRST}:{ACCOUNT}:prod-aurora-usw2-alarms",
    "WINDOW_SECONDS": "300",
    "PROBE_INTERVAL_SECONDS": "10",
    "PROBE_ATTEMPT_SECONDS": "6",
    "DECIDER_INTERVAL_SECONDS": "10",
    "RPO_BUDGET_SECONDS": "30",
    "COOLDOWN_SECONDS": "3600",
    "DRY_RUN": "false",
}


class World:
    """Three regions' tables and this region's topic (moto), a fake RDS, a fixed veto, a settable clock."""

    def __init__(self) -> None:
        self.now = READY
        self.settings = load_settings(ENV)
        self.stores = {}
        for region in REGIONS:
            client = boto3.client("dynamodb", region_name=region)
            create_failover_table(client)
            self.stores[region] = DynamoRegionStore(
                client=client, table=TABLE, global_cluster_id=GLOBAL_ID, region=region
            )
        self.sns = boto3.client("sns", region_name=FIRST)
        topic = self.sns.create_topic(Name="prod-aurora-usw2-alarms")["TopicArn"]
        self.sqs = boto3.client("sqs", region_name=FIRST)
        queue = self.sqs.create_queue(QueueName="notifications")["QueueUrl"]
        self.queue = queue
        arn = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
        )
        self.rds = FakeRds(describe_global_clusters(HOME))
        self.veto = ImmediateVeto()
        self.logged: list[dict[str, Any]] = []

    def outage(self, *, lags: dict[str, float] | None = None) -> None:
        for i, region in enumerate((FIRST, SECOND)):
            for attempt in outage_history(
                region, now=self.now, lag=(lags or {}).get(region, 0.5), offset=i * 3.0
            ):
                self.stores[region].put_attempt(attempt)

    def runtime(self, settings: Settings | None = None) -> decider.Runtime:
        return decider.Runtime(
            settings=settings or self.settings,
            rds=self.rds,
            rds_failover=self.rds,
            sns=self.sns,
            stores=self.stores,
            veto=self.veto,
            clock=lambda: self.now,
            sleep=self.advance,
            log=lambda message, record: self.logged.append({"message": message, **record}),
        )

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def notifications(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", FIRST)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    with mock_aws():
        yield World()


def invoke(
    world: World, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch, rt: decider.Runtime | None = None
) -> dict[str, Any]:
    monkeypatch.setattr(decider, "_runtime", rt or world.runtime())
    return decider.handler(event, Context())


def test_full_outage_promotes_this_region_with_data_loss_allowed_records_and_disarms(world, monkeypatch):
    world.outage()

    result = invoke(world, load_event("direct_evaluate"), monkeypatch)

    assert result["last"]["action"] == "failover"
    assert result["last"]["reason"] == "failover_started"
    assert world.rds.failover_calls == [
        {
            "GlobalClusterIdentifier": GLOBAL_ID,
            "TargetDbClusterIdentifier": cluster_arn(FIRST),
            "AllowDataLoss": True,
        }
    ]
    lock, _ = read_locks(world.stores, (FIRST, SECOND))
    assert lock.last_failover_at == READY
    view, _, _ = read_arm(world.stores, (FIRST, SECOND), default_armed=True)
    assert view.armed is False
    assert world.stores[HOME].read_lock().last_failover_at is None  # the failed region is never written
    [note] = world.notifications()
    assert (note["action"], note["reason"], note["region"]) == ("failover", "failover_started", FIRST)


def test_the_decision_is_one_structured_log_line_with_the_estimate(world, monkeypatch):
    world.outage()

    invoke(world, load_event("direct_evaluate"), monkeypatch)

    [line] = world.logged
    assert line["message"] == "failover_decision"
    assert line["details"]["estimated_loss_seconds"] <= 30
    assert line["details"]["target"] == FIRST


def test_dry_run_reports_what_it_would_request_and_takes_no_lock(world, monkeypatch):
    world.outage()
    rt = world.runtime(replace(world.settings, dry_run=True))

    result = invoke(world, load_event("direct_evaluate"), monkeypatch, rt)

    assert (result["last"]["action"], result["last"]["reason"]) == ("dry_run", "conditions_met")
    assert result["last"]["details"]["would_request"]["AllowDataLoss"] is True
    assert world.rds.failover_calls == []
    assert read_locks(world.stores, (FIRST, SECOND))[0].lease_owner is None


def test_a_live_writer_is_logged_but_notified_to_no_one_and_never_vetoed_for(world, monkeypatch):
    for region in (FIRST, SECOND):
        for attempt in outage_history(region, now=READY, onset=READY + 100):
            world.stores[region].put_attempt(attempt)

    result = invoke(world, load_event("direct_evaluate"), monkeypatch)

    assert result["last"]["reason"] == "writer_alive"
    assert world.notifications() == []
    assert world.veto.requests == []


def test_disarmed_automation_refuses_and_calls_nothing(world, monkeypatch):
    world.outage()
    set_arm(world.stores, REGIONS, armed=False, by="alice", now=READY - 100, reason="maintenance")

    result = invoke(world, load_event("direct_evaluate"), monkeypatch)

    assert result["last"]["reason"] == "disarmed"
    assert "alice" in result["last"]["details"]["arm"]
    assert world.rds.failover_calls == []


def test_a_readable_healthy_writer_metric_vetoes_the_promotion(world, monkeypatch):
    world.outage()
    world.veto.veto = Veto(state=VetoState.ALIVE_SEEN, seen_alive_at=READY - 30, detail="WriterHealthy=1")

    result = invoke(world, load_event("direct_evaluate"), monkeypatch)

    assert result["last"]["reason"] == "writer_region_veto"
    assert world.veto.requests == [HOME]


def test_a_rejected_failover_releases_the_lock_and_stays_armed(world, monkeypatch):
    world.outage()
    world.rds.failover_error = ClientError(
        {
            "Error": {"Code": "InvalidGlobalClusterStateFault", "Message": "busy"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "FailoverGlobalCluster",
    )

    result = invoke(world, load_event("direct_evaluate"), monkeypatch)

    assert result["last"]["reason"] == "failover_rejected"
    assert (
        read_locks(world.stores, (FIRST, SECOND))[0]
        == read_locks(world.stores, (FIRST, SECOND))[0].__class__()
    )
    assert read_arm(world.stores, (FIRST, SECOND), default_armed=True)[0].armed is True


def test_a_server_error_from_the_failover_call_is_an_unknown_outcome_that_still_disarms(world, monkeypatch):
    world.outage()
    world.rds.failover_error = ClientError(
        {"Error": {"Code": "InternalFailure", "Message": "?"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
        "FailoverGlobalCluster",
    )

    result = invoke(world, load_event("direct_evaluate"), monkeypatch)

    assert result["last"]["reason"] == "failover_outcome_unknown"
    assert read_arm(world.stores, (FIRST, SECOND), default_armed=True)[0].armed is False


def test_a_second_evaluation_after_a_promotion_does_not_promote_again(world, monkeypatch):
    world.outage()
    invoke(world, load_event("direct_evaluate"), monkeypatch)
    world.now += 30
    world.outage()

    result = invoke(world, load_event("direct_evaluate"), monkeypatch)

    assert result["last"]["reason"] in ("disarmed", "cooldown")
    assert len(world.rds.failover_calls) == 1


def test_scheduled_event_loops_at_the_decider_interval_within_the_budget(world, monkeypatch):
    rt = world.runtime(replace(world.settings, loop_seconds=50))
    for region in (FIRST, SECOND):
        for attempt in outage_history(region, now=READY + 60, onset=READY + 200):
            world.stores[region].put_attempt(attempt)

    result = invoke(world, load_event("scheduled"), monkeypatch, rt)

    # Evaluations start while there is a whole interval left of the 50 s budget.
    assert result["evaluations"] == 6
    assert [line["evaluated_at"] for line in world.logged] == [READY + 10 * i for i in range(6)]


def test_an_alarm_event_of_the_writers_region_is_not_a_trigger(world, monkeypatch):
    result = invoke(world, load_event("unsupported"), monkeypatch)

    assert (result["action"], result["reason"]) == ("ignored", "unsupported_event")
    assert world.rds.describe_calls == 0


def test_the_writer_region_is_never_read_on_the_decision_path(world, monkeypatch):
    world.outage()

    class Forbidden:
        region = HOME

        def __getattr__(self, name):
            raise AssertionError(f"decider called {name} on the writer's region")

    rt = world.runtime()
    rt.stores = {**world.stores, HOME: Forbidden()}

    result = invoke(world, load_event("direct_evaluate"), monkeypatch, rt)

    assert result["last"]["reason"] == "failover_started"


@pytest.mark.parametrize(
    ("name", "value", "expected", "shown"),
    [
        ("REGIONS", FIRST, "at least two regions", FIRST),
        ("REGIONS", f"{HOME},{SECOND}", "contains this function's own region", f"{HOME},{SECOND}"),
        (
            "CLUSTER_ARNS",
            json.dumps({r: cluster_arn(HOME) for r in REGIONS}),
            "in the region of their key",
            cluster_arn(HOME),
        ),
        (
            "NOTIFY_TOPIC_ARN",
            f"arn:aws:sns:{HOME}:{ACCOUNT}:alarms",
            "in this region",
            f"arn:aws:sns:{HOME}:{ACCOUNT}:alarms",
        ),
        ("WINDOW_SECONDS", "5", "from 30 to 3600", "5"),
        ("DRY_RUN", "yes", '"true" or "false"', "yes"),
    ],
)
def test_configuration_errors_name_the_variable_the_rule_and_the_value(name, value, expected, shown):
    with pytest.raises(ConfigurationError) as raised:
        load_settings({**ENV, name: value})

    message = str(raised.value)
    assert message.startswith(name) and expected in message and repr(shown) in message and "Fix:" in message


def test_settings_default_to_dry_run_and_armed():
    env = {k: v for k, v in ENV.items() if k != "DRY_RUN"}

    settings = load_settings(env)

    assert (settings.dry_run, settings.armed_by_default, settings.timing.vantage_regions) == (True, True, 2)
