"""`infra status` and the engine's LiveView over boto3: botocore Stubber for RDS (moto has no
global-cluster failover/switchover) and Route 53 (moto's GetHealthCheckStatus always answers
Success), moto for CloudWatch and STS. A dead region is a real client whose endpoint refuses
connections."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from model.environment import parse_environment
from orchestrator.deploy.engine import Orchestrator
from orchestrator.operate.aws import (
    CredentialsError,
    GlobalClusterReadError,
    WriterInTransitionError,
    WrongAccountError,
    connect,
)
from orchestrator.operate.readings import BotoLiveView
from orchestrator.operate.status import DnsRecord, answering_record, collect_status
from tests.support.live_aws import (
    ACCOUNT,
    EU,
    GLOBAL_ENDPOINT,
    GLOBAL_ID,
    HEALTHY,
    PRIMARY,
    UNHEALTHY,
    WEST,
    ZONE_ID,
    AwsFakes,
    aws_fakes,
    cluster_arn,
    cluster_endpoint,
    cluster_id,
    db_cluster,
    env_data,
    given_failover_tables,
    global_cluster,
    healthy_deployment,
    make_env,
    publish_health,
    put_alarms,
    put_lag,
    stub_dns,
    stub_dns_chain,
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsFakes]:
    yield from aws_fakes(monkeypatch)


# --- CloudWatch fixtures (moto) ---------------------------------------------------------------


def test_healthy_global_database_reports_writer_lag_alarms_and_dns_answering_with_the_writer(
    aws: AwsFakes,
) -> None:
    # GIVEN a deployed environment: writer in the file's primary, both secondaries replicating
    now = datetime.now(UTC)
    env = make_env()
    healthy_deployment(aws, now)
    stub_dns(aws, health={PRIMARY: HEALTHY, WEST: UNHEALTHY})

    # WHEN the status is collected
    status = collect_status(env, aws.session(), now=now)

    # THEN the writer is the primary, as the file says
    assert status.global_cluster is not None and status.global_cluster.status == "available"
    assert status.writer_region == PRIMARY and status.writer_matches_file is True
    by_region = {r.region: r for r in status.regions}
    assert [(r.region, r.file_role, r.live_role) for r in status.regions] == [
        (PRIMARY, "primary", "writer"),
        (WEST, "secondary", "secondary"),
        (EU, "secondary", "secondary"),
    ]
    assert by_region[WEST].synchronization_status == "connected"
    # AND each secondary's lag comes from its own region, measured from the writer's region
    lag = by_region[WEST].replication_lag
    assert lag is not None and (lag.metric, lag.value_ms, lag.source_region) == (
        "AuroraGlobalDBRPOLag",
        120.0,
        PRIMARY,
    )
    eu_lag = by_region[EU].replication_lag
    assert eu_lag is not None and eu_lag.value_ms == 121.0
    assert by_region[PRIMARY].replication_lag is None  # lag metrics exist only on secondaries
    # AND the health-check Lambda's metrics are read back per region
    assert by_region[PRIMARY].health["WriterHealthy"].value == 1.0
    assert by_region[WEST].health["WriterHealthy"].value == 0.0
    assert by_region[WEST].health["Reachable"].value == 1.0
    # AND every alarm is there; a reader's writer-health ALARM is the design, not a problem
    assert {a.suffix: a.state for a in by_region[PRIMARY].alarms} == {
        "writer-health": "OK",
        "unreachable": "OK",
        "replication-lag": "OK",  # in every region: no data where the cluster is the writer
        "cpu": "OK",
        "freeable-memory": "OK",
        "connections": "OK",
    }
    west_writer_alarm = next(a for a in by_region[WEST].alarms if a.suffix == "writer-health")
    assert west_writer_alarm.state == "ALARM" and west_writer_alarm.expected
    assert by_region[WEST].missing_alarms == [] and by_region[PRIMARY].missing_alarms == []
    # AND DNS answers with the PRIMARY record, which is the writer's endpoint
    assert status.dns is not None and status.dns.error is None
    assert status.dns.answering is not None and status.dns.answering.failover == "PRIMARY"
    assert status.dns.answering.region == PRIMARY and status.dns.answering.health_source == "route53"
    assert status.dns.writer_endpoint == cluster_endpoint(PRIMARY)
    assert status.dns.answers_with_writer is True
    assert status.problems == [] and status.ok
    aws.assert_all_responses_used()

    document = json.loads(json.dumps(status.to_json()))
    assert document["ok"] is True and document["writer_region"] == PRIMARY
    assert document["regions"][1]["replication_lag"]["value_ms"] == 120.0
    assert document["dns"]["answers_with_writer"] is True
    text = status.render_text()
    assert "Writer: us-east-1 (in its home region)" in text
    assert "replication lag 120 ms (AuroraGlobalDBRPOLag" in text
    assert "writer-health ALARM (expected on a reader)" in text
    assert "<- answering" in text and "No problems found." in text


def test_after_a_failover_the_writer_away_from_home_is_reported_and_nothing_is_out_of_place(
    aws: AwsFakes,
) -> None:
    # GIVEN the writer moved to us-west-2; the file (the home region) still says us-east-1
    now = datetime.now(UTC)
    env = make_env()
    # (alarms as deployed: the same in every region, a lag alarm everywhere, before and after)
    healthy_deployment(aws, now, writer=WEST)
    stub_dns(aws, health={PRIMARY: UNHEALTHY, WEST: HEALTHY})

    # WHEN the status is collected
    status = collect_status(env, aws.session(), now=now)

    # THEN the writer is us-west-2, away from home, and that alone is no problem
    assert status.writer_region == WEST and status.writer_matches_file is False
    assert not any("us-west-2" in p and "writer" in p for p in status.problems)
    by_region = {r.region: r for r in status.regions}
    assert (by_region[PRIMARY].file_role, by_region[PRIMARY].live_role) == ("primary", "secondary")
    # AND the old primary's lag is read with the new source region
    lag = by_region[PRIMARY].replication_lag
    assert lag is not None and (lag.value_ms, lag.source_region) == (120.0, WEST)
    # AND every region has its lag alarm, wherever the writer is: nothing is missing or out of place
    assert all(r.missing_alarms == [] for r in status.regions)
    # AND DNS has failed over to the SECONDARY record, which is the new writer
    assert status.dns is not None and status.dns.answering is not None
    assert status.dns.answering.failover == "SECONDARY" and status.dns.answers_with_writer is True
    text = status.render_text()
    assert "Home region: us-east-1" in text and "Writer: us-west-2 (away from home, nothing to change" in text
    assert "Secrets region" not in text  # they live in the home region
    assert (status.to_json()["home_region"], status.to_json()["secrets_region"]) == (PRIMARY, PRIMARY)
    aws.assert_all_responses_used()


def test_status_names_the_secrets_region_when_rehome_left_it_away_from_the_home() -> None:
    from orchestrator.operate.status import EnvironmentStatus

    status = EnvironmentStatus(
        env="prod",
        account_id="333333333333",
        file_primary_region="eu-west-1",
        collected_at=datetime.now(UTC),
        is_global=True,
        global_cluster_id="prod-aurora-global",
        secrets_region="us-east-1",
        writer_region="eu-west-1",
        writer_matches_file=True,
    )
    text = status.render_text()
    assert "Home region: eu-west-1" in text
    assert "Secrets region: us-east-1 (the secrets' and their key's primaries" in text
    assert status.to_json()["secrets_region"] == "us-east-1"


def test_a_writer_at_the_end_of_the_chain_is_what_the_writer_name_answers_with(aws: AwsFakes) -> None:
    # GIVEN the writer moved to eu-west-1, the last region of the writer name's failover chain
    now = datetime.now(UTC)
    env = make_env()
    healthy_deployment(aws, now, writer=EU)
    stub_dns_chain(aws)

    status = collect_status(env, aws.session(), now=now)

    # THEN the chain is followed to its third pair, whose record is eu-west-1's endpoint
    assert status.dns is not None and status.dns.error is None
    assert status.dns.answering is not None and status.dns.answering.region == EU
    assert status.dns.answering.name == "chain-3.writer.prod.db.internal"
    assert status.dns.answers_with_writer is True
    # AND the calculated checks' health came from the alarms (GetHealthCheckStatus can't report them)
    home = next(r for r in status.dns.records if r.region == PRIMARY)
    assert (home.healthy, home.health_source) == (False, "alarm")
    assert not any(p.startswith("dns:") for p in status.problems)


def test_no_region_claiming_the_writer_answers_with_the_global_endpoint_and_says_so(aws: AwsFakes) -> None:
    # GIVEN every writer-health alarm in ALARM (no region accepts writes right now)
    now = datetime.now(UTC)
    env = make_env()
    healthy_deployment(aws, now, writer=EU)
    aws.read[("cloudwatch", EU)].set_alarm_state(
        AlarmName="prod-aurora-euw1-writer-health", StateValue="ALARM", StateReason="test"
    )
    stub_dns_chain(aws)

    status = collect_status(env, aws.session(), now=now)

    assert status.dns is not None and status.dns.answering is not None
    assert status.dns.answering.target == GLOBAL_ENDPOINT and status.dns.answering.region is None
    assert any("no region claims the writer alone" in n for n in status.dns.notes)


def test_a_region_whose_endpoints_fail_shows_as_unreachable_and_the_rest_is_reported(aws: AwsFakes) -> None:
    # GIVEN eu-west-1's endpoints refuse connections
    now = datetime.now(UTC)
    env = make_env()
    rds = aws.stub("rds", PRIMARY)
    rds.add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID})
    for region in (PRIMARY, WEST):
        stubber = rds if region == PRIMARY else aws.stub("rds", region)
        stubber.add_response(
            "describe_db_clusters", db_cluster(region), {"DBClusterIdentifier": cluster_arn(region)}
        )
        cloudwatch = aws.moto("cloudwatch", region)
        put_alarms(
            cloudwatch,
            region,
            lag_alarm=region == WEST,
            states={"writer-health": "ALARM"} if region == WEST else {},
        )
        publish_health(cloudwatch, region, writer=region == PRIMARY, at=now - timedelta(minutes=1))
    put_lag(
        aws.read[("cloudwatch", WEST)],
        WEST,
        source=PRIMARY,
        value_ms=50,
        at=now - timedelta(minutes=1),
        metric="AuroraGlobalDBReplicationLag",
    )
    aws.dead(EU, "rds", "cloudwatch")
    stub_dns(aws, health={PRIMARY: HEALTHY, WEST: UNHEALTHY})

    # WHEN the status is collected
    status = collect_status(env, aws.session(), now=now)

    # THEN eu-west-1 is unreachable with the error, and the other regions are complete
    by_region = {r.region: r for r in status.regions}
    eu = by_region[EU]
    assert eu.unreachable
    assert eu.errors["cluster"].startswith("unreachable: EndpointConnectionError")
    assert eu.errors["alarms"].startswith("unreachable: EndpointConnectionError")
    assert any(p.startswith("eu-west-1: unreachable: EndpointConnectionError") for p in status.problems)
    # AND the fallback to the older lag metric is reported as such
    west_lag = by_region[WEST].replication_lag
    assert west_lag is not None and (west_lag.metric, west_lag.value_ms) == (
        "AuroraGlobalDBReplicationLag",
        50.0,
    )
    assert (
        status.writer_region == PRIMARY and status.dns is not None and status.dns.answers_with_writer is True
    )
    assert (
        "eu-west-1" in status.render_text() and "unreachable: EndpointConnectionError" in status.render_text()
    )
    assert json.loads(json.dumps(status.to_json()))["regions"][2]["unreachable"] is True
    aws.assert_all_responses_used()


def test_a_dead_primary_region_does_not_hide_the_global_cluster(aws: AwsFakes) -> None:
    # GIVEN the primary region's endpoints are down (the outage a failover is for)
    now = datetime.now(UTC)
    env = make_env()
    aws.dead(PRIMARY, "rds", "cloudwatch")
    west = aws.stub("rds", WEST)
    west.add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID})
    west.add_response("describe_db_clusters", db_cluster(WEST), {"DBClusterIdentifier": cluster_arn(WEST)})
    aws.stub("rds", EU).add_response(
        "describe_db_clusters", db_cluster(EU), {"DBClusterIdentifier": cluster_arn(EU)}
    )
    for region in (WEST, EU):
        put_alarms(aws.moto("cloudwatch", region), region, lag_alarm=True, states={"writer-health": "ALARM"})
    aws.stub("route53", "us-east-1").add_client_error(
        "list_hosted_zones_by_name", service_error_code="ServiceUnavailable", http_status_code=503
    )
    given_failover_tables(aws, (WEST, EU))  # no DynamoDB client of us-east-1: asking it fails the test

    # WHEN the status is collected
    status = collect_status(env, aws.session(), now=now)

    # THEN the automation's state is read in the surviving regions, the dead one is not asked again
    assert status.automation is not None
    assert status.automation["regions"][PRIMARY]["error"].startswith("unreachable: its APIs did not answer")
    assert status.automation["regions"][WEST] is None and status.automation["armed"] is True
    # AND the global cluster was read in us-west-2, and us-east-1 is reported unreachable
    assert status.global_cluster_read_in == WEST and status.writer_region == PRIMARY
    assert status.regions[0].unreachable
    # AND the endpoint of the writer is unknown, so DNS can't be judged
    assert (
        status.dns is not None and status.dns.error is not None and "ServiceUnavailable" in status.dns.error
    )
    # AND the missing lag and health datapoints are problems, not crashes
    assert "us-west-2: no replication lag datapoint in the last 10 minutes" in status.problems
    assert any(
        p.startswith("eu-west-1: no WriterHealthy datapoint in the last 10 minutes") for p in status.problems
    )


def test_status_of_an_environment_never_deployed_says_so(aws: AwsFakes) -> None:
    env = make_env()
    rds = aws.stub("rds", PRIMARY)
    rds.add_client_error(
        "describe_global_clusters", service_error_code="GlobalClusterNotFoundFault", http_status_code=404
    )
    for region in (PRIMARY, WEST, EU):
        stubber = rds if region == PRIMARY else aws.stub("rds", region)
        stubber.add_client_error(
            "describe_db_clusters", service_error_code="DBClusterNotFoundFault", http_status_code=404
        )
        aws.moto("cloudwatch", region)
    route53 = aws.stub("route53", "us-east-1")
    route53.add_response(
        "list_hosted_zones_by_name", {"HostedZones": [], "IsTruncated": False, "MaxItems": "100"}
    )

    status = collect_status(env, aws.session())

    assert status.global_cluster is None and status.writer_region is None
    assert status.problems[0] == "global cluster prod-aurora-global does not exist"
    assert (
        status.regions[0].errors["cluster"]
        == "not found: no cluster prod-aurora-use1 in us-east-1 (not deployed?)"
    )
    assert (
        status.dns is not None
        and status.dns.error == "not found: no private hosted zone named prod.db.internal"
    )


def test_a_regional_environment_reports_its_cluster_as_the_writer_behind_a_simple_record(
    aws: AwsFakes,
) -> None:
    # GIVEN a regional (non-global) environment: one cluster, one plain CNAME
    env = make_env(secondary_regions=[], network={"cidrs": {PRIMARY: "10.30.0.0/16"}})
    aws.stub("rds", PRIMARY).add_response(
        "describe_db_clusters", db_cluster(PRIMARY), {"DBClusterIdentifier": cluster_id(PRIMARY)}
    )
    cloudwatch = aws.moto("cloudwatch", PRIMARY)
    put_alarms(cloudwatch, PRIMARY, lag_alarm=False)
    publish_health(cloudwatch, PRIMARY, writer=True, at=datetime.now(UTC) - timedelta(minutes=1))
    route53 = aws.stub("route53", "us-east-1")
    route53.add_response(
        "list_hosted_zones_by_name",
        {
            "HostedZones": [
                {"Id": f"/hostedzone/{ZONE_ID}", "Name": "prod.db.internal.", "CallerReference": "p",
                 "Config": {"PrivateZone": True}},
            ],
            "IsTruncated": False,
            "MaxItems": "100",
        },
    )  # fmt: skip
    route53.add_response(
        "list_resource_record_sets",
        {
            "ResourceRecordSets": [
                {"Name": "writer.prod.db.internal.", "Type": "CNAME", "TTL": 5,
                 "ResourceRecords": [{"Value": cluster_endpoint(PRIMARY)}]},
            ],
            "IsTruncated": False,
            "MaxItems": "300",
        },
    )  # fmt: skip

    status = collect_status(env, aws.session())

    # THEN nothing global is read or expected, and the plain record answers with the cluster
    assert status.global_cluster is None and status.global_cluster_error is None
    assert status.writer_region == PRIMARY and status.writer_matches_file is True
    assert (
        status.dns is not None and status.dns.answering is not None and status.dns.answering.failover is None
    )
    assert status.dns.answers_with_writer is True
    assert status.problems == []
    aws.assert_all_responses_used()


def test_dns_falls_back_on_the_writer_health_alarm_when_route53_health_is_unavailable(aws: AwsFakes) -> None:
    now = datetime.now(UTC)
    env = make_env()
    healthy_deployment(aws, now)
    stub_dns(aws, health={PRIMARY: RuntimeError("throttled"), WEST: RuntimeError("throttled")})

    status = collect_status(env, aws.session(), now=now)

    assert status.dns is not None
    primary, secondary = status.dns.records
    assert (primary.healthy, primary.health_source) == (True, "alarm")
    assert primary.health_detail is not None and "Throttling" in primary.health_detail
    assert "prod-aurora-use1-writer-health is OK" in primary.health_detail
    assert (secondary.healthy, secondary.health_source) == (False, "alarm")
    assert status.dns.answers_with_writer is True


def _record(role: str, healthy: bool | None) -> DnsRecord:
    return DnsRecord(
        failover=role,
        set_identifier=role,
        target=role.lower(),
        region=None,
        health_check_id="hc",
        healthy=healthy,
    )


@pytest.mark.parametrize(
    ("primary", "secondary", "expected"),
    [
        (True, True, "PRIMARY"),
        (True, False, "PRIMARY"),
        (False, True, "SECONDARY"),
        (False, False, "PRIMARY"),  # secondary unhealthy: primary regardless
        (None, False, "PRIMARY"),
        (True, None, "PRIMARY"),
        (False, None, None),  # depends on the unknown secondary
        (None, True, None),  # depends on the unknown primary
    ],
)
def test_failover_records_answer_as_route53_documents(
    primary: bool | None, secondary: bool | None, expected: str | None
) -> None:
    answer = answering_record([_record("PRIMARY", primary), _record("SECONDARY", secondary)])
    assert (answer.failover if answer else None) == expected


# --- account check ----------------------------------------------------------------------------


def test_credentials_of_another_account_are_refused(aws: AwsFakes) -> None:
    # GIVEN credentials of moto's account 123456789012 and an environment in 333333333333
    env = parse_environment(
        env_data(account_id="333333333333", deploy_role_arn="arn:aws:iam::333333333333:role/aurora-deploy"),
        path="environments/prod.yaml",
    )
    aws.moto("sts", PRIMARY)

    with pytest.raises(WrongAccountError) as raised:
        connect(env, client_factory=aws.read_factory)

    message = str(raised.value)
    assert (
        "account 123456789012" in message
        and "account_id: 333333333333" in message
        and "--role-arn" in message
    )


def test_credentials_of_the_environment_account_are_accepted(aws: AwsFakes) -> None:
    aws.moto("sts", PRIMARY)
    session = connect(make_env(), client_factory=aws.read_factory)
    assert session.identity is not None and session.identity.account == ACCOUNT


def test_account_check_survives_a_dead_primary_region(aws: AwsFakes) -> None:
    aws.dead(PRIMARY, "sts")
    aws.moto("sts", WEST)
    session = connect(make_env(), client_factory=aws.read_factory)
    assert session.identity is not None and session.identity.account == ACCOUNT


def test_a_role_in_the_environment_account_is_assumed_with_the_callers_credentials(aws: AwsFakes) -> None:
    # GIVEN caller credentials of account 123456789012 and an environment in 333333333333
    env = parse_environment(
        env_data(account_id="333333333333", deploy_role_arn="arn:aws:iam::333333333333:role/aurora-deploy"),
        path="environments/prod.yaml",
    )
    # WHEN connecting through a read-only role of the environment's account (real boto3 path, moto STS)
    session = connect(env, role_arn="arn:aws:iam::333333333333:role/aurora-readonly")
    # THEN the identity checked is the assumed role's
    assert session.identity is not None and session.identity.account == "333333333333"
    assert session.identity.arn == "arn:aws:sts::333333333333:assumed-role/aurora-readonly/infra-prod"


def test_missing_credentials_are_reported_before_anything_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup here
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    with pytest.raises(
        CredentialsError, match=r"cannot verify the AWS account .*Unable to locate credentials"
    ):
        connect(make_env())


# --- LiveView ---------------------------------------------------------------------------------


def test_writer_region_is_none_when_the_global_cluster_does_not_exist(aws: AwsFakes) -> None:
    aws.stub("rds", PRIMARY).add_client_error(
        "describe_global_clusters", service_error_code="GlobalClusterNotFoundFault", http_status_code=404
    )
    assert BotoLiveView(aws.session()).writer_region(make_env()) is None


def test_writer_region_is_the_live_writer(aws: AwsFakes) -> None:
    aws.stub("rds", PRIMARY).add_response(
        "describe_global_clusters", global_cluster(writer=EU), {"GlobalClusterIdentifier": GLOBAL_ID}
    )
    assert BotoLiveView(aws.session()).writer_region(make_env()) == EU


def test_writer_region_errors_are_not_mistaken_for_a_first_deploy(aws: AwsFakes) -> None:
    for region in (PRIMARY, WEST, EU):
        aws.stub("rds", region).add_client_error(
            "describe_global_clusters",
            service_error_code="AccessDenied",
            service_message="no",
            http_status_code=403,
        )
    with pytest.raises(GlobalClusterReadError) as raised:
        BotoLiveView(aws.session()).writer_region(make_env())
    assert "us-east-1: AccessDenied: no" in str(raised.value) and "eu-west-1: AccessDenied" in str(
        raised.value
    )


def test_writer_region_refuses_while_a_switchover_runs(aws: AwsFakes) -> None:
    state = {
        "Status": "switching-over",
        "FromDbClusterArn": cluster_arn(PRIMARY),
        "ToDbClusterArn": cluster_arn(WEST),
    }
    aws.stub("rds", PRIMARY).add_response(
        "describe_global_clusters",
        global_cluster(failover_state=state),
        {"GlobalClusterIdentifier": GLOBAL_ID},
    )
    with pytest.raises(WriterInTransitionError, match="switching-over"):
        BotoLiveView(aws.session()).writer_region(make_env())


def test_the_engine_locates_the_live_writer_without_stopping(aws: AwsFakes) -> None:
    aws.stub("rds", PRIMARY).add_response(
        "describe_global_clusters", global_cluster(writer=WEST), {"GlobalClusterIdentifier": GLOBAL_ID}
    )
    engine = Orchestrator(make_env(), runner=object(), live=BotoLiveView(aws.session()))  # type: ignore[arg-type]
    assert engine.locate_writer() == WEST


def test_engine_version_is_the_global_clusters_or_none_before_the_first_deploy(aws: AwsFakes) -> None:
    stub = aws.stub("rds", PRIMARY)
    answer = global_cluster()
    answer["GlobalClusters"][0]["EngineVersion"] = "8.0.mysql_aurora.3.12.0"
    stub.add_response("describe_global_clusters", answer, {"GlobalClusterIdentifier": GLOBAL_ID})
    stub.add_client_error("describe_global_clusters", service_error_code="GlobalClusterNotFoundFault")
    view = BotoLiveView(aws.session())

    assert view.engine_version(make_env()) == "8.0.mysql_aurora.3.12.0"
    assert view.engine_version(make_env()) is None


def test_engine_version_of_a_regional_environment_is_its_clusters(aws: AwsFakes) -> None:
    env = make_env(secondary_regions=[], network={"cidrs": {PRIMARY: "10.30.0.0/16"}})
    aws.stub("rds", PRIMARY).add_response(
        "describe_db_clusters",
        db_cluster(PRIMARY, engine="8.0.mysql_aurora.3.10.4"),
        {"DBClusterIdentifier": cluster_id(PRIMARY)},
    )

    assert BotoLiveView(aws.session()).engine_version(env) == "8.0.mysql_aurora.3.10.4"
