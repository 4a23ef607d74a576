"""Reading the facts: the global cluster view, the writer region's veto metric (moto), the prefetcher."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from lambda_src.failover.decision import Veto, VetoState
from lambda_src.failover.facts import ThreadVetoPrefetcher, read_global_view, veto_from_metric
from lambda_src.failover.store import dynamo_stores
from tests.support.failover import FIRST, GLOBAL_ID, HOME, REGIONS, FakeRds, describe_global_clusters

NAMESPACE = "AuroraGlobal/Health"


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=HOME)


def put_health(cloudwatch, value: float, at: float) -> None:
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": "WriterHealthy",
                "Dimensions": [
                    {"Name": "Environment", "Value": "prod"},
                    {"Name": "Region", "Value": HOME},
                    {"Name": "ClusterIdentifier", "Value": f"prod-{HOME}"},
                ],
                "Timestamp": datetime.fromtimestamp(at, tz=UTC),
                "Value": value,
                "StorageResolution": 60,
            }
        ],
    )


def veto(cloudwatch, now: float) -> Veto:
    return veto_from_metric(
        cloudwatch,
        namespace=NAMESPACE,
        environment="prod",
        writer_region=HOME,
        cluster_id=f"prod-{HOME}",
        now=now,
        window_seconds=300,
    )


def test_a_healthy_minute_in_the_window_is_a_veto_until_the_end_of_its_period(cloudwatch):
    now = time.time()
    minute = now - now % 60 - 120
    put_health(cloudwatch, 1.0, minute + 5)
    put_health(cloudwatch, 0.0, minute + 65)

    found = veto(cloudwatch, now)

    assert found.state is VetoState.ALIVE_SEEN
    assert found.seen_alive_at == minute + 60


def test_only_unhealthy_datapoints_are_no_veto(cloudwatch):
    now = time.time()
    put_health(cloudwatch, 0.0, now - 100)

    assert veto(cloudwatch, now).state is VetoState.NOT_SEEN


def test_the_prefetcher_never_waits_and_answers_unknown_until_the_read_is_done():
    release = threading.Event()

    def slow_read(writer_region: str, now: float) -> Veto:
        release.wait(5)
        return Veto(state=VetoState.ALIVE_SEEN, seen_alive_at=now)

    prefetcher = ThreadVetoPrefetcher(slow_read)
    started = time.monotonic()
    prefetcher.request(HOME, 100.0)
    prefetcher.request(HOME, 110.0)  # one read in flight at a time

    assert prefetcher.latest(HOME, 110.0, 300).state is VetoState.UNKNOWN
    assert time.monotonic() - started < 1
    release.set()
    for _ in range(100):
        if prefetcher.latest(HOME, 120.0, 300).state is VetoState.ALIVE_SEEN:
            break
        time.sleep(0.01)
    assert prefetcher.latest(HOME, 120.0, 300).seen_alive_at == 100.0


def test_a_failing_read_is_an_unknown_veto_not_an_exception():
    def broken(writer_region: str, now: float) -> Veto:
        raise TimeoutError("read timed out")

    prefetcher = ThreadVetoPrefetcher(broken)
    prefetcher.request(HOME, 100.0)
    for _ in range(100):
        found = prefetcher.latest(HOME, 100.0, 300)
        if "TimeoutError" in found.detail:
            break
        time.sleep(0.01)

    assert found.state is VetoState.UNKNOWN and "read timed out" in found.detail


def test_global_view_names_the_writer_region_members_and_a_failover_in_progress():
    view = read_global_view(FakeRds(describe_global_clusters(HOME, failover="failing-over")), GLOBAL_ID)

    assert (view.writer_region, view.member_regions, view.failover_status) == (
        HOME,
        frozenset(REGIONS),
        "failing-over",
    )


def test_stores_are_built_per_region_for_the_cli():
    made: list[str] = []

    stores = dynamo_stores(
        lambda region: made.append(region) or object(), {HOME: "t-use1", FIRST: "t-usw2"}, GLOBAL_ID
    )

    assert [(r, s.table, s.region) for r, s in stores.items()] == [
        (HOME, "t-use1", HOME),
        (FIRST, "t-usw2", FIRST),
    ]
    assert made == [HOME, FIRST]
