"""Ephemeral test environments: generated from a template, tagged with an expiry, reaped.

An ephemeral environment is the template with a unique name (``<template>-<suffix>``),
deletion policy ``ephemeral``, automated failover off, an ``expires_at`` time, and VPC
blocks from the reserved pool 10.128.0.0/9 (slot N takes 10.(128+4N+i).0.0/16 for its
i-th region, so environments alive at the same time never overlap). Its definition travels
inside its stacks' config; its expiry and slot are stack tags, which is all the reaper reads.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from model.environment import (
    DeletionPolicy,
    Environment,
    ExpiryError,
    format_expiry,
    parse_environment,
    parse_expiry,
)
from model.excerpt import excerpt
from model.topology import Role, StackSpec, split_stack_name
from orchestrator.deploy.engine import ENV_TAG, EXPIRES_TAG, POLICY_TAG, ROLE_TAG
from orchestrator.deploy.runner import StackInfo, StackOperationError, StackRunner

POOL_FIRST_OCTET = 10
POOL_SECOND_OCTET_START = 128
REGIONS_PER_SLOT = 4
MAX_SLOTS = (256 - POOL_SECOND_OCTET_START) // REGIONS_PER_SLOT  # 32 environments at once
SLOT_TAG = "aurora:cidr-slot"
MAX_TTL = timedelta(days=7)
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


class EphemeralError(ValueError):
    pass


def parse_ttl(text: str) -> timedelta:
    """'3h', '90m', '1d12h' -> timedelta; between 15 minutes and 7 days."""
    match = _DURATION.fullmatch(text.strip()) if text else None
    if not match or not any(match.groups()):
        raise EphemeralError(f"--ttl: expected a duration like 3h, 90m or 1d12h (got {excerpt(text)})")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    try:
        ttl = timedelta(days=days, hours=hours, minutes=minutes)
    except OverflowError:  # e.g. 99999999999d: far beyond the limit, say so
        ttl = MAX_TTL + timedelta(days=1)
    if not timedelta(minutes=15) <= ttl <= MAX_TTL:
        raise EphemeralError(
            f"--ttl: must be between 15m and 7d (got {excerpt(text)}); reap runs would destroy it early or never"
        )
    return ttl


def slot_cidrs(slot: int, regions: Iterable[str]) -> dict[str, str]:
    regions = list(regions)
    if not 0 <= slot < MAX_SLOTS:
        raise EphemeralError(f"CIDR slot {slot} is outside the pool (0-{MAX_SLOTS - 1})")
    if len(regions) > REGIONS_PER_SLOT:
        raise EphemeralError(
            f"an ephemeral environment has at most {REGIONS_PER_SLOT} regions (got {len(regions)})"
        )
    base = POOL_SECOND_OCTET_START + slot * REGIONS_PER_SLOT
    return {region: f"{POOL_FIRST_OCTET}.{base + i}.0.0/16" for i, region in enumerate(regions)}


def free_slot(used: set[int]) -> int:
    for slot in range(MAX_SLOTS):
        if slot not in used:
            return slot
    raise EphemeralError(f"all {MAX_SLOTS} ephemeral CIDR slots are in use: reap expired environments first")


def generate(
    template: Environment,
    *,
    ttl: timedelta,
    now: datetime,
    used_slots: set[int],
    name: str | None = None,
) -> tuple[Environment, int]:
    """A new ephemeral environment from ``template``; returns it and its CIDR slot."""
    if name is None:
        name = f"{template.name}-{secrets.token_hex(3)}"
    slot = free_slot(used_slots)
    data: dict[str, Any] = template.model_dump(mode="json")
    data.update(
        name=name,
        deletion_policy=DeletionPolicy.EPHEMERAL.value,
        expires_at=format_expiry(now + ttl),
    )
    data["network"]["cidrs"] = slot_cidrs(slot, template.regions)
    data["failover"] = {**data["failover"], "automated": False}
    data["dns"] = {**data["dns"], "zone_name": f"{name}.db.internal"}
    data["database"] = {
        **data["database"],
        "instance_count": max(1, min(template.database.instance_count, 2)),
    }
    env = parse_environment(data, path=f"ephemeral environment from {template.name}")
    return env, slot


def used_slots(stacks: Iterable[StackInfo]) -> set[int]:
    return {int(s.tags[SLOT_TAG]) for s in stacks if s.tags.get(SLOT_TAG, "").isdigit()}


@dataclass
class EphemeralEnv:
    name: str
    expires_at: datetime | None
    stacks: list[StackInfo] = field(default_factory=list)
    expiry_error: str | None = None
    """Why the expiry tag can't be read (then ``expires_at`` is None): listed and reported by the
    reaper as a failure, never silently skipped."""

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "name": self.name,
            "expires_at": format_expiry(self.expires_at) if self.expires_at else None,
            "expired": self.expired(now),
            "stacks": [s.name for s in self.stacks],
            "expiry_error": self.expiry_error,
        }


def _parse_time(value: str) -> tuple[datetime | None, str | None]:
    """(expiry, None), or (None, why not) for a tag the reaper can't read."""
    try:
        return parse_expiry(value), None
    except ExpiryError as exc:
        return None, f"expiry tag {EXPIRES_TAG} is unreadable: {exc}"


def list_ephemeral(stacks: Iterable[StackInfo]) -> list[EphemeralEnv]:
    """Group the backend's stacks tagged ephemeral by environment."""
    envs: dict[str, EphemeralEnv] = {}
    for stack in stacks:
        if stack.tags.get(POLICY_TAG) != DeletionPolicy.EPHEMERAL.value or EXPIRES_TAG not in stack.tags:
            continue
        name = stack.tags.get(ENV_TAG) or split_stack_name(stack.name)[0]
        if name not in envs:
            expires_at, problem = _parse_time(stack.tags[EXPIRES_TAG])
            envs[name] = EphemeralEnv(name=name, expires_at=expires_at, expiry_error=problem)
        envs[name].stacks.append(stack)
    return sorted(envs.values(), key=lambda e: e.name)


# The failover stack's peering and routes use the regional VPCs: it goes with DNS, first.
_ROLE_ORDER = {Role.DNS.value: 0, Role.FAILOVER.value: 0, Role.SECONDARY.value: 1, Role.PRIMARY.value: 2}
_GLOBAL_ROLES = (Role.DNS.value, Role.FAILOVER.value)


def teardown_order(env: EphemeralEnv) -> list[list[StackSpec]]:
    """DNS and failover, then secondaries (together), then the primary: the destroy order, from
    tags alone."""
    waves: dict[int, list[StackSpec]] = {}
    for stack in env.stacks:
        role = stack.tags.get(ROLE_TAG, Role.PRIMARY.value)
        env_name, rest = split_stack_name(stack.name)
        spec = StackSpec(stack.name, env_name, Role(role), rest if role not in _GLOBAL_ROLES else "", ())
        waves.setdefault(_ROLE_ORDER.get(role, 2), []).append(spec)
    return [waves[k] for k in sorted(waves)]


@dataclass
class ReapOutcome:
    env: str
    destroyed: list[str] = field(default_factory=list)
    error: str | None = None
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "destroyed": self.destroyed, "error": self.error, "dry_run": self.dry_run}


def reap(
    runner: StackRunner,
    *,
    now: datetime,
    dry_run: bool = False,
    on_progress: Callable[[str], None] = lambda _: None,
) -> list[ReapOutcome]:
    """Destroy every expired ephemeral environment; one failure does not stop the others."""
    outcomes: list[ReapOutcome] = []
    for env in list_ephemeral(runner.list_stacks()):
        if env.expiry_error is not None:  # can't tell whether it expired: report it, destroy nothing
            outcomes.append(
                ReapOutcome(
                    env=env.name,
                    dry_run=dry_run,
                    error=f"{env.expiry_error}; not reaped. Fix: set the tag to e.g. 2026-12-31T18:00:00Z "
                    f"(pulumi stack tag set {EXPIRES_TAG} ...) or destroy it with `infra destroy`",
                )
            )
            continue
        if not env.expired(now):
            continue
        outcome = ReapOutcome(env=env.name, dry_run=dry_run)
        outcomes.append(outcome)
        if dry_run:
            outcome.destroyed = [s.name for wave in teardown_order(env) for s in wave]
            continue
        try:
            for wave in teardown_order(env):
                for spec in wave:
                    on_progress(f"reaping {spec.name} (expired {env.expires_at:%Y-%m-%dT%H:%M:%SZ})")
                    runner.destroy(spec, lambda _event: None)
                    outcome.destroyed.append(spec.name)
                    # An emptied stack still carries its expiry tag: remove it so the next reap
                    # doesn't find it again (runners that keep no empty stacks have no remove).
                    remove = getattr(runner, "remove", None)
                    if remove is not None:
                        remove(spec)
        except StackOperationError as exc:
            outcome.error = str(exc)
        except Exception as exc:  # a reap job must go on with the other environments
            outcome.error = f"{type(exc).__name__}: {exc}"
    return outcomes
