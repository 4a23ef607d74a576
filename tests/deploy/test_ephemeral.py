"""Ephemeral environment generation: names, TTLs, CIDR slots, expiry grouping."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from model.environment import DeletionPolicy, load_environment
from orchestrator.deploy import ephemeral
from orchestrator.deploy.runner import StackInfo

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text,expected",
    [("3h", timedelta(hours=3)), ("90m", timedelta(minutes=90)), ("1d12h", timedelta(days=1, hours=12))],
)
def test_ttl_accepts_days_hours_minutes(text: str, expected: timedelta) -> None:
    assert ephemeral.parse_ttl(text) == expected


@pytest.mark.parametrize("text", ["", "3", "3x", "10m", "8d", "h"])
def test_ttl_rejects_malformed_or_out_of_range_durations(text: str) -> None:
    with pytest.raises(ephemeral.EphemeralError, match="--ttl"):
        ephemeral.parse_ttl(text)


def test_generated_environment_is_ephemeral_expiring_and_non_overlapping() -> None:
    template = load_environment("test")
    env, slot = ephemeral.generate(
        template, ttl=timedelta(hours=3), now=NOW, used_slots={0, 1}, name="test-ab12"
    )
    assert slot == 2
    assert env.name == "test-ab12" and env.deletion_policy is DeletionPolicy.EPHEMERAL
    assert env.expires_at == "2026-11-23T15:00:00Z"
    assert env.failover.automated is False
    assert env.network.cidrs == {"us-east-1": "10.136.0.0/16", "us-west-2": "10.137.0.0/16"}
    pool = ipaddress.ip_network("10.128.0.0/9")
    checked_in = [
        ipaddress.ip_network(c)
        for name in ("dev", "staging", "prod", "test")
        for c in load_environment(name).network.cidrs.values()
    ]
    for cidr in env.network.cidrs.values():
        net = ipaddress.ip_network(cidr)
        assert net.subnet_of(pool)  # type: ignore[arg-type]
        assert not any(net.overlaps(other) for other in checked_in)


def test_generated_name_is_unique_and_valid() -> None:
    template = load_environment("test")
    names = {
        ephemeral.generate(template, ttl=timedelta(hours=1), now=NOW, used_slots=set())[0].name
        for _ in range(5)
    }
    assert len(names) == 5 and all(n.startswith("test-") for n in names)


def test_an_invalid_name_is_refused_by_the_environment_rules() -> None:
    from model.environment import EnvironmentFileError

    with pytest.raises(EnvironmentFileError, match="name"):
        ephemeral.generate(
            load_environment("test"), ttl=timedelta(hours=1), now=NOW, used_slots=set(), name="Bad_Name"
        )


def test_slots_run_out_with_a_clear_message() -> None:
    with pytest.raises(ephemeral.EphemeralError, match="reap expired environments first"):
        ephemeral.free_slot(set(range(ephemeral.MAX_SLOTS)))


def test_listing_groups_stacks_by_environment_and_flags_expired_ones() -> None:
    def info(name: str, env: str, role: str, expires: str) -> StackInfo:
        tags = {"aurora:environment": env, "aurora:role": role, "aurora:deletion-policy": "ephemeral",
                "aurora:expires-at": expires}  # fmt: skip
        return StackInfo(name=name, exists=True, tags=tags)

    stacks = [
        info("test-a.us-east-1", "test-a", "primary", "2026-11-23T11:00:00Z"),
        info("test-a.dns", "test-a", "dns", "2026-11-23T11:00:00Z"),
        info("test-b.us-east-1", "test-b", "primary", "2026-11-23T13:00:00Z"),
        StackInfo(name="prod.us-east-1", exists=True, tags={"aurora:deletion-policy": "protected"}),
    ]
    envs = ephemeral.list_ephemeral(stacks)
    assert [(e.name, e.expired(NOW)) for e in envs] == [("test-a", True), ("test-b", False)]
    order = ephemeral.teardown_order(envs[0])
    assert [[s.name for s in wave] for wave in order] == [["test-a.dns"], ["test-a.us-east-1"]]


def _tagged(name: str, env: str, role: str, expires: str) -> StackInfo:
    tags = {"aurora:environment": env, "aurora:role": role, "aurora:deletion-policy": "ephemeral",
            "aurora:expires-at": expires}  # fmt: skip
    return StackInfo(name=name, exists=True, tags=tags)


class _RecordingRunner:
    def __init__(self, stacks: list[StackInfo]) -> None:
        self.stacks = stacks
        self.destroyed: list[str] = []

    def list_stacks(self) -> list[StackInfo]:
        return self.stacks

    def destroy(self, spec: object, progress: object) -> None:
        self.destroyed.append(spec.name)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "expires", ["2026-11-23T11:00:00+00:00", "2026-11-23T12:00:00+01:00", "2026-11-23T11:00:00.5Z",
                "2026-11-23 11:00:00Z"],
)  # fmt: skip
def test_the_reaper_reads_every_iso_8601_expiry_the_validator_accepts(expires: str) -> None:
    runner = _RecordingRunner([_tagged("test-c.us-east-1", "test-c", "primary", expires)])
    outcomes = ephemeral.reap(runner, now=NOW)  # type: ignore[arg-type]
    assert [(o.env, o.error) for o in outcomes] == [("test-c", None)]
    assert runner.destroyed == ["test-c.us-east-1"]


def test_an_unreadable_expiry_is_listed_and_reported_by_reap_never_skipped() -> None:
    runner = _RecordingRunner(
        [
            _tagged("test-d.us-east-1", "test-d", "primary", "next tuesday"),
            _tagged("test-e.us-east-1", "test-e", "primary", "2026-11-23T11:00:00Z"),
        ]
    )
    listed = {e.name: e.to_json(NOW) for e in ephemeral.list_ephemeral(runner.list_stacks())}
    assert listed["test-d"]["expires_at"] is None
    assert (
        "unreadable" in listed["test-d"]["expiry_error"]
        and "next tuesday" in listed["test-d"]["expiry_error"]
    )

    outcomes = {o.env: o for o in ephemeral.reap(runner, now=NOW)}  # type: ignore[arg-type]

    assert "unreadable" in (outcomes["test-d"].error or "") and outcomes["test-d"].destroyed == []
    assert outcomes["test-e"].error is None  # the others are still reaped
    assert runner.destroyed == ["test-e.us-east-1"]


def test_an_absurd_ttl_is_refused_not_an_overflow() -> None:
    with pytest.raises(ephemeral.EphemeralError, match="between 15m and 7d"):
        ephemeral.parse_ttl("99999999999999999999d")
