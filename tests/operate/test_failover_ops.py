"""`infra failover` planning and execution: botocore Stubber for RDS (moto implements neither
SwitchoverGlobalCluster nor FailoverGlobalCluster), moto for the lag metrics in CloudWatch, and
an injected clock and sleep so waiting takes no time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.operate.failover import (
    FailoverPlan,
    FailoverRefusedError,
    FailoverRequestError,
    FailoverTimeoutError,
    FailoverVerificationError,
    Operation,
    TimelineEvent,
    execute_failover,
    plan_failover,
)
from tests.support.live_aws import (
    EU,
    GLOBAL_ID,
    PRIMARY,
    WEST,
    AwsFakes,
    aws_fakes,
    cluster_arn,
    db_cluster,
    given_failover_tables,
    given_live_state,
    global_cluster,
    make_env,
    put_lag,
)

SWITCHING = {
    "Status": "switching-over",
    "FromDbClusterArn": cluster_arn(PRIMARY),
    "ToDbClusterArn": cluster_arn(WEST),
}
FAILING = {
    "Status": "failing-over",
    "FromDbClusterArn": cluster_arn(PRIMARY),
    "ToDbClusterArn": cluster_arn(WEST),
    "IsDataLossAllowed": True,
}
ALL_SWITCHOVER_CHECKS = [
    "target_in_environment",
    "global_cluster_exists",
    "target_is_member",
    "target_not_writer",
    "global_cluster_available",
    "no_operation_in_progress",
    "writer_reachable",
    "engine_versions_match",
    "members_synchronized",
    "target_lag_known",
    "target_lag_within_threshold",
    "flight_lock_readable",
    "no_flight_or_cooldown",
]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsFakes]:
    yield from aws_fakes(monkeypatch)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


def plan(aws: AwsFakes, target: str = WEST, **kwargs: Any) -> FailoverPlan:
    return plan_failover(make_env(), target, clients=aws.session(), **{"allow_data_loss": False, **kwargs})


def failed(plan: FailoverPlan) -> list[str]:
    return [c.name for c in plan.failed_checks]


# --- planning ---------------------------------------------------------------------------------


def test_switchover_plan_passes_every_check_and_calls_the_writers_region(aws: AwsFakes) -> None:
    # GIVEN a healthy global database, writer in us-east-1
    given_live_state(aws)

    # WHEN a switchover to us-west-2 is planned
    result = plan(aws)

    # THEN every precondition passes, and the API is SwitchoverGlobalCluster in the writer's region
    assert [c.name for c in result.checks] == ALL_SWITCHOVER_CHECKS
    assert result.allowed and failed(result) == []
    assert (result.operation, result.api_call, result.api_region) == (
        Operation.SWITCHOVER,
        "switchover_global_cluster",
        PRIMARY,
    )
    assert result.request == {
        "GlobalClusterIdentifier": GLOBAL_ID,
        "TargetDbClusterIdentifier": cluster_arn(WEST),
    }
    assert result.lag is not None and result.lag.value_ms == 150.0
    assert result.check("engine_versions_match").message == "every member runs 8.0.mysql_aurora.3.10.3"
    # AND the operator is told there is nothing to change afterwards, and how to fail back
    assert any("nothing to change" in w and "--to us-east-1" in w for w in result.warnings)
    document = json.loads(json.dumps(result.to_json()))
    assert document["api"] == {
        "call": "switchover_global_cluster",
        "region": PRIMARY,
        "parameters": {"GlobalClusterIdentifier": GLOBAL_ID, "TargetDbClusterIdentifier": cluster_arn(WEST)},
    }
    assert "All preconditions pass." in result.render_text()
    aws.assert_all_responses_used()


def test_target_outside_the_environment_is_refused(aws: AwsFakes) -> None:
    # The global cluster is read in the file's regions (primary first); nothing in ap-south-1.
    given_live_state(aws, target=PRIMARY, lag_ms=None)
    result = plan_failover(make_env(), "ap-south-1", allow_data_loss=False, clients=aws.session())
    assert "target_in_environment" in failed(result) and "target_is_member" in failed(result)
    assert "ap-south-1 is not a region of prod (regions: us-east-1, us-west-2, eu-west-1)" in (
        result.check("target_in_environment").message
    )
    assert result.request is None


def test_target_that_is_not_a_member_is_refused(aws: AwsFakes) -> None:
    given_live_state(aws, target=EU, global_answer=global_cluster(members=(PRIMARY, WEST)), lag_ms=None)
    result = plan(aws, EU)
    assert failed(result) == ["target_is_member"]
    assert "no cluster in eu-west-1 is a member of prod-aurora-global (members: us-east-1, us-west-2)" in (
        result.check("target_is_member").message
    )


def test_target_that_is_already_the_writer_is_refused(aws: AwsFakes) -> None:
    given_live_state(aws, target=WEST, writer=WEST, lag_ms=None)
    result = plan(aws, WEST)
    assert "target_not_writer" in failed(result)
    assert result.check("target_not_writer").message == "us-west-2 is already the writer: nothing to do"


def test_a_global_cluster_that_is_not_available_refuses_a_switchover(aws: AwsFakes) -> None:
    given_live_state(aws, global_answer=global_cluster(status="modifying"))
    result = plan(aws)
    assert failed(result) == ["global_cluster_available"]
    assert result.check("global_cluster_available").message == "global cluster status is modifying"


def test_an_operation_in_progress_refuses_another(aws: AwsFakes) -> None:
    given_live_state(aws, global_answer=global_cluster(failover_state=SWITCHING))
    result = plan(aws)
    assert failed(result) == ["no_operation_in_progress"]
    assert "a switching-over operation is in progress" in result.check("no_operation_in_progress").message


def test_an_unreadable_writer_refuses_a_switchover_and_points_at_the_unplanned_failover(
    aws: AwsFakes,
) -> None:
    aws.dead(PRIMARY, "rds")
    given_failover_tables(aws, (WEST, EU))
    west, eu = aws.stub("rds", WEST), aws.stub("rds", EU)
    west.add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID})
    west.add_response("describe_db_clusters", db_cluster(WEST), {"DBClusterIdentifier": cluster_arn(WEST)})
    eu.add_response("describe_db_clusters", db_cluster(EU), {"DBClusterIdentifier": cluster_arn(EU)})
    put_lag(
        aws.moto("cloudwatch", WEST),
        WEST,
        source=PRIMARY,
        value_ms=10,
        at=datetime.now(UTC),
        metric="AuroraGlobalDBRPOLag",
    )

    result = plan(aws)

    assert failed(result) == ["writer_reachable", "engine_versions_match"]
    message = result.check("writer_reachable").message
    assert "prod-aurora-use1 in us-east-1 cannot be read (EndpointConnectionError" in message
    assert "--unplanned --allow-data-loss" in message
    assert "engine version unknown for prod-aurora-use1 (us-east-1: EndpointConnectionError" in (
        result.check("engine_versions_match").message
    )


def test_mismatched_engine_versions_refuse_a_switchover_naming_the_cluster(aws: AwsFakes) -> None:
    given_live_state(aws, engines={EU: "8.0.mysql_aurora.3.09.0"})
    result = plan(aws)
    assert failed(result) == ["engine_versions_match"]
    assert result.check("engine_versions_match").message.startswith(
        "prod-aurora-euw1 (eu-west-1) runs 8.0.mysql_aurora.3.09.0, but prod-aurora-use1 (us-east-1) runs "
        "8.0.mysql_aurora.3.10.3"
    )
    assert "FAIL] engine_versions_match" in result.render_text()


def test_a_secondary_that_is_not_connected_refuses_a_switchover(aws: AwsFakes) -> None:
    given_live_state(aws, global_answer=global_cluster(sync={EU: "pending-resync"}))
    result = plan(aws)
    assert failed(result) == ["members_synchronized"]
    assert (
        result.check("members_synchronized").message
        == "not connected: prod-aurora-euw1 (eu-west-1) is pending-resync"
    )


def test_an_unknown_target_lag_refuses_a_switchover(aws: AwsFakes) -> None:
    given_live_state(aws, lag_ms=None)
    result = plan(aws)
    assert failed(result) == ["target_lag_known"]
    assert (
        "no AuroraGlobalDBRPOLag or AuroraGlobalDBReplicationLag datapoint"
        in result.check("target_lag_known").message
    )


def test_a_target_lag_above_the_threshold_refuses_a_switchover(aws: AwsFakes) -> None:
    given_live_state(aws, lag_ms=50_000)
    result = plan(aws)
    assert failed(result) == ["target_lag_within_threshold"]
    assert result.check("target_lag_within_threshold").message == "replication lag 50000 ms > 10000 ms"


def test_a_missing_global_cluster_refuses_everything(aws: AwsFakes) -> None:
    aws.stub("rds", WEST).add_client_error(
        "describe_global_clusters", service_error_code="GlobalClusterNotFoundFault", http_status_code=404
    )
    result = plan(aws)
    assert failed(result) == ["global_cluster_exists"]
    assert result.request is None and not result.allowed


def test_an_unplanned_failover_is_refused_without_allow_data_loss(aws: AwsFakes) -> None:
    given_live_state(aws, writer=PRIMARY)
    result = plan(aws, operation=Operation.FAILOVER, allow_data_loss=False)
    assert failed(result) == ["data_loss_accepted"]
    assert "--allow-data-loss" in result.check("data_loss_accepted").message
    with pytest.raises(FailoverRefusedError, match="data_loss_accepted"):
        execute_failover(result, aws.session(), clock=FakeClock(), sleep=FakeClock().sleep)


def test_refused_plans_never_call_the_api(aws: AwsFakes) -> None:
    given_live_state(aws, engines={EU: "8.0.mysql_aurora.3.09.0"})
    result = plan(aws)
    clock = FakeClock()
    # No action client exists: any call to one fails the test through AwsFakes.
    with pytest.raises(FailoverRefusedError, match="engine_versions_match"):
        execute_failover(result, aws.session(), clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


# --- execution --------------------------------------------------------------------------------


def test_switchover_calls_the_api_in_the_writers_region_waits_and_verifies(aws: AwsFakes) -> None:
    # GIVEN an allowed switchover plan to us-west-2
    given_live_state(aws)
    result = plan(aws)
    action = aws.stub_action("rds", PRIMARY)
    action.add_response(
        "switchover_global_cluster",
        {
            "GlobalCluster": {
                "GlobalClusterIdentifier": GLOBAL_ID,
                "Status": "available",
                "FailoverState": SWITCHING,
            }
        },
        {"GlobalClusterIdentifier": GLOBAL_ID, "TargetDbClusterIdentifier": cluster_arn(WEST)},
    )
    # AND RDS, polled from the target's region, shows the switchover progressing
    poll = aws.read[("rds", WEST)]
    stub = next(s for s in aws.stubbers if s.client is poll)
    expected = {"GlobalClusterIdentifier": GLOBAL_ID}
    stub.add_response("describe_global_clusters", global_cluster(failover_state=SWITCHING), expected)
    stub.add_response("describe_global_clusters", global_cluster(failover_state=SWITCHING), expected)
    stub.add_response(
        "describe_global_clusters", global_cluster(writer=None, failover_state=SWITCHING), expected
    )
    stub.add_response(
        "describe_global_clusters", global_cluster(writer=WEST, failover_state=SWITCHING), expected
    )
    stub.add_response("describe_global_clusters", global_cluster(writer=WEST), expected)
    stub.add_response("describe_global_clusters", global_cluster(writer=WEST), expected)  # verification
    clock = FakeClock()
    progress: list[TimelineEvent] = []

    # WHEN it is executed
    timeline = execute_failover(
        result, aws.session(), clock=clock, sleep=clock.sleep, poll_s=15, on_progress=progress.append
    )

    # THEN it was sent once, in us-east-1, with the target's ARN, then polled every 15 s until settled
    aws.assert_all_responses_used()
    assert clock.sleeps == [15, 15, 15, 15, 15]
    assert timeline.outcome == "verified"
    assert [e.event for e in timeline.events] == [
        "requested",
        "accepted",
        "status",
        "status",
        "writer-moved",
        "status",
        "status",
        "completed",
        "verified",
    ]
    assert progress == timeline.events
    details = {e.event: e.detail for e in timeline.events}
    assert details["requested"].startswith("switchover_global_cluster in us-east-1")
    assert cluster_arn(WEST) in details["requested"]
    assert details["writer-moved"] == "us-east-1 -> us-west-2 (prod-aurora-usw2)"
    assert details["verified"] == f"{cluster_arn(WEST)} is the only writer (IsWriter) of {GLOBAL_ID}"
    status_details = [e.detail for e in timeline.events if e.event == "status"]
    assert status_details[0] == "Status=available, FailoverState=switching-over, writer=us-east-1"
    assert status_details[-1] == "Status=available, FailoverState=none, writer=us-west-2"
    assert timeline.seconds == 75
    document = json.loads(json.dumps(timeline.to_json()))
    assert document["outcome"] == "verified" and document["events"][0]["at"] == "2026-03-01T12:00:00+00:00"
    text = timeline.render_text()
    assert "switchover of prod-aurora-global to us-west-2: verified after 1m15s" in text
    assert "+1m15s" in text and "away from its home region us-east-1: nothing to change" in text


def test_unplanned_failover_with_allow_data_loss_is_called_in_the_targets_region(aws: AwsFakes) -> None:
    # GIVEN the primary region is down and the operator accepts data loss
    aws.dead(PRIMARY, "rds")
    given_failover_tables(aws, (WEST, EU))
    west = aws.stub("rds", WEST)
    west.add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID})
    put_lag(
        aws.moto("cloudwatch", WEST),
        WEST,
        source=PRIMARY,
        value_ms=420,
        at=datetime.now(UTC),
        metric="AuroraGlobalDBRPOLag",
    )

    result = plan(aws, operation=Operation.FAILOVER, allow_data_loss=True)

    # THEN the plan is allowed, warns about fencing and data loss, and targets us-west-2's endpoint
    assert result.allowed, result.render_text()
    assert (result.api_call, result.api_region) == ("failover_global_cluster", WEST)
    assert result.request == {
        "GlobalClusterIdentifier": GLOBAL_ID,
        "TargetDbClusterIdentifier": cluster_arn(WEST),
        "AllowDataLoss": True,
    }
    assert any(
        w.startswith("Stop every writer of prod-aurora-use1 in us-east-1 BEFORE failing over")
        for w in result.warnings
    )
    assert any("latest replication lag of us-west-2 was 420 ms" in w for w in result.warnings)

    # WHEN executed
    aws.stub_action("rds", WEST).add_response(
        "failover_global_cluster",
        {
            "GlobalCluster": {
                "GlobalClusterIdentifier": GLOBAL_ID,
                "Status": "failing-over",
                "FailoverState": FAILING,
            }
        },
        {
            "GlobalClusterIdentifier": GLOBAL_ID,
            "TargetDbClusterIdentifier": cluster_arn(WEST),
            "AllowDataLoss": True,
        },
    )
    expected = {"GlobalClusterIdentifier": GLOBAL_ID}
    west.add_client_error("describe_global_clusters", service_error_code="Throttling", http_status_code=400)
    west.add_client_error("describe_global_clusters", service_error_code="Throttling", http_status_code=400)
    west.add_response(
        "describe_global_clusters",
        global_cluster(writer=WEST, status="failing-over", failover_state=FAILING),
        expected,
    )
    west.add_response("describe_global_clusters", global_cluster(writer=WEST), expected)
    west.add_response("describe_global_clusters", global_cluster(writer=WEST), expected)
    clock = FakeClock()
    timeline = execute_failover(result, aws.session(), clock=clock, sleep=clock.sleep)

    # THEN it completed; the repeated poll error is one event, not one per poll
    aws.assert_all_responses_used()
    assert timeline.outcome == "verified"
    events = [e.event for e in timeline.events]
    assert events.count("poll-failed") == 1
    assert events[-2:] == ["completed", "verified"]


def test_a_switchover_that_does_not_finish_in_time_says_it_may_still_complete(aws: AwsFakes) -> None:
    given_live_state(aws)
    result = plan(aws)
    aws.stub_action("rds", PRIMARY).add_response(
        "switchover_global_cluster",
        {"GlobalCluster": {"GlobalClusterIdentifier": GLOBAL_ID, "FailoverState": SWITCHING}},
    )
    stub = next(s for s in aws.stubbers if s.client is aws.read[("rds", WEST)])
    for _ in range(4):
        stub.add_response("describe_global_clusters", global_cluster(failover_state=SWITCHING))
    clock = FakeClock()

    with pytest.raises(FailoverTimeoutError) as raised:
        execute_failover(result, aws.session(), clock=clock, sleep=clock.sleep, timeout_s=60, poll_s=15)

    message = str(raised.value)
    assert "did not complete within 60s" in message and "may still complete" in message
    assert "infra status --env prod" in message
    timeline = raised.value.timeline
    assert timeline is not None and timeline.outcome == "timed-out"
    assert [e.event for e in timeline.events] == ["requested", "accepted", "status", "timed-out"]
    assert sum(clock.sleeps) == 60
    aws.assert_all_responses_used()


def test_a_request_rds_rejects_is_reported_as_not_started(aws: AwsFakes) -> None:
    given_live_state(aws)
    result = plan(aws)
    aws.stub_action("rds", PRIMARY).add_client_error(
        "switchover_global_cluster",
        service_error_code="InvalidGlobalClusterStateFault",
        service_message="not in a valid state",
        http_status_code=400,
    )
    clock = FakeClock()
    with pytest.raises(FailoverRequestError) as raised:
        execute_failover(result, aws.session(), clock=clock, sleep=clock.sleep)
    assert raised.value.started is False and "Nothing was started" in str(raised.value)
    assert "InvalidGlobalClusterStateFault: not in a valid state" in str(raised.value)
    assert raised.value.timeline is not None and raised.value.timeline.outcome == "rejected"


def test_a_server_error_on_the_request_is_an_unknown_outcome(aws: AwsFakes) -> None:
    given_live_state(aws)
    result = plan(aws)
    aws.stub_action("rds", PRIMARY).add_client_error(
        "switchover_global_cluster", service_error_code="InternalFailure", http_status_code=500
    )
    clock = FakeClock()
    with pytest.raises(FailoverRequestError) as raised:
        execute_failover(result, aws.session(), clock=clock, sleep=clock.sleep)
    assert raised.value.started is None and "may have started" in str(raised.value)


def test_a_writer_that_moves_elsewhere_fails_verification(aws: AwsFakes) -> None:
    given_live_state(aws)
    result = plan(aws)
    aws.stub_action("rds", PRIMARY).add_response("switchover_global_cluster", {"GlobalCluster": {}})
    stub = next(s for s in aws.stubbers if s.client is aws.read[("rds", WEST)])
    stub.add_response("describe_global_clusters", global_cluster(writer=WEST))
    stub.add_response("describe_global_clusters", global_cluster(writer=EU))
    clock = FakeClock()
    with pytest.raises(FailoverVerificationError) as raised:
        execute_failover(result, aws.session(), clock=clock, sleep=clock.sleep)
    assert f"expected {cluster_arn(WEST)} to be the only writer, found {cluster_arn(EU)}" in str(raised.value)


def test_promoting_any_region_says_the_writer_name_follows_it(aws: AwsFakes) -> None:
    given_live_state(aws, target=EU)
    result = plan(aws, EU)
    assert result.allowed
    assert any("writer.prod.db.internal moves to eu-west-1 by itself" in w for w in result.warnings)
    assert not any("fails over only between" in w for w in result.warnings)


def test_after_a_rehome_the_operator_takes_the_flight_lock_in_the_deciders_order(aws: AwsFakes) -> None:
    # GIVEN prod rehomed to eu-west-1 (the secrets stay in us-east-1; region_order unchanged)
    # and the writer in us-west-2
    from orchestrator.operate.flight import take_flight

    env = make_env(primary_region=EU, secondary_regions=[WEST, PRIMARY], secrets_region=PRIMARY)
    assert env.region_order == (PRIMARY, WEST, EU) and env.regions == (EU, WEST, PRIMARY)
    given_failover_tables(aws)
    # WHEN an operator takes the flight lock
    taken = take_flight(env, aws.session(), WEST, by="test", now=1_000.0, break_glass=False)
    # THEN it holds every region but the writer's, in the order the deciders take them
    # (components/failover.py: REGIONS is region_order): the same items, in the same order, as
    # before the rehome
    assert taken.flight is not None
    assert taken.flight.regions == (PRIMARY, EU)
