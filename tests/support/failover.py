"""Builders and fakes for the failover decider and probe tests (no test module imports another)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from lambda_src.common.probe_record import Attempt, Verdict
from lambda_src.failover.budget import PROD, Timing
from lambda_src.failover.decision import (
    ArmView,
    Facts,
    GlobalView,
    LockView,
    VantageView,
    Veto,
)

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
HOME, FIRST, SECOND = REGIONS
ONSET = 1_000_000.0
"""The writer stops answering here in the builders' outages."""
TABLE = "failover"
GLOBAL_ID = "prod-global"
ACCOUNT = "333333333333"


def cluster_arn(region: str) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:cluster:prod-{region}"


def attempts(
    region: str,
    *,
    start: float,
    end: float,
    verdict: Verdict,
    interval: float = PROD.probe_interval_seconds,
    writer: str = HOME,
    replica_newest: float | None = None,
    local_ok: bool = True,
    reason: str = "",
) -> list[Attempt]:
    """One attempt every ``interval`` in [start, end)."""
    found: list[Attempt] = []
    t = start
    while t < end:
        found.append(
            Attempt(
                region=region,
                at=t,
                verdict=verdict,
                reason=reason or str(verdict),
                writer_region=writer,
                local_ok=local_ok,
                replica_newest=replica_newest,
            )
        )
        t += interval
    return found


def outage_history(
    region: str,
    *,
    now: float,
    onset: float = ONSET,
    lag: float = 0.5,
    timing: Timing = PROD,
    offset: float = 0.0,
) -> tuple[Attempt, ...]:
    """Alive attempts until the onset, dead ones after; the replica holds the last heartbeat before the onset minus lag."""
    i = timing.probe_interval_seconds
    alive = attempts(
        region, start=onset - 600 + offset, end=onset, verdict=Verdict.ALIVE, interval=i, replica_newest=None
    )
    last_alive = alive[-1].at
    frozen = last_alive - lag
    alive = [
        Attempt(
            region=a.region,
            at=a.at,
            verdict=a.verdict,
            reason="committed",
            writer_region=a.writer_region,
            local_ok=True,
            replica_newest=a.at - lag,
        )
        for a in alive
    ]
    dead = attempts(
        region,
        start=last_alive + i,
        end=now + 0.001,
        verdict=Verdict.DEAD,
        interval=i,
        replica_newest=frozen,
        reason="timeout",
    )
    return tuple(alive + dead)


def global_view(
    writer: str = HOME,
    *,
    members: Iterable[str] = REGIONS,
    status: str = "available",
    failover_status: str | None = None,
) -> GlobalView:
    return GlobalView(
        status=status,
        failover_status=failover_status,
        writer_region=writer,
        member_regions=frozenset(members),
    )


def outage_facts(
    *,
    now: float,
    region: str = FIRST,
    regions: Sequence[str] = REGIONS,
    lags: dict[str, float] | None = None,
    armed: bool | None = True,
    lock: LockView | None = None,
    veto: Veto | None = None,
    timing: Timing = PROD,
) -> Facts:
    """The facts a decider in ``region`` reads at ``now`` during a full outage of the home region."""
    lags = lags or {}
    vantages = {
        r: VantageView(
            region=r, attempts=outage_history(r, now=now, lag=lags.get(r, 0.5), timing=timing, offset=i * 3.0)
        )
        for i, r in enumerate(regions)
        if r != regions[0]
    }
    return Facts(
        region=region,
        regions=tuple(regions),
        global_view=global_view(regions[0], members=regions),
        vantages=vantages,
        veto=veto or Veto(),
        arm=ArmView(armed=armed),
        lock=lock or LockView(),
    )


def describe_global_clusters(
    writer: str = HOME, *, regions: Sequence[str] = REGIONS, failover: str | None = None
) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "GlobalClusterIdentifier": GLOBAL_ID,
        "Status": "available" if failover is None else "failing-over",
        "GlobalClusterMembers": [{"DBClusterArn": cluster_arn(r), "IsWriter": r == writer} for r in regions],
    }
    if failover is not None:
        cluster["FailoverState"] = {"Status": failover}
    return {"GlobalClusters": [cluster]}


class FakeRds:
    """DescribeGlobalClusters from a canned answer; records FailoverGlobalCluster calls."""

    def __init__(
        self, answer: dict[str, Any] | None = None, *, failover_error: Exception | None = None
    ) -> None:
        self.answer = answer or describe_global_clusters()
        self.failover_error = failover_error
        self.failover_calls: list[dict[str, Any]] = []
        self.describe_calls = 0

    def describe_global_clusters(self, **_: Any) -> dict[str, Any]:
        self.describe_calls += 1
        return self.answer

    def failover_global_cluster(self, **request: Any) -> dict[str, Any]:
        self.failover_calls.append(request)
        if self.failover_error is not None:
            raise self.failover_error
        return {"GlobalCluster": {"Status": "failing-over", "FailoverState": {"Status": "pending"}}}


class ImmediateVeto:
    """A VetoSource whose answer is fixed; counts requests."""

    def __init__(self, veto: Veto | None = None) -> None:
        self.veto = veto or Veto()
        self.requests: list[str] = []

    def request(self, writer_region: str, now: float) -> None:
        self.requests.append(writer_region)

    def latest(self, writer_region: str, now: float, window_seconds: float) -> Veto:
        return self.veto


def create_failover_table(dynamodb: Any, name: str = TABLE) -> None:
    """The table schema the decider and probe need (pk/sk strings, TTL on expires_at)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
