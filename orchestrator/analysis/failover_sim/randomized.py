"""Seeded random fault schedules, checked against the same invariants as the scenario files.

A plain seeded generator rather than hypothesis: the benchmark prints the same 10,000
schedules on every machine, and a failing one is reproduced from its name (``random-<seed>-
<index>``) alone. Schedules lean towards the faults that matter (the writer's region, its
links, the probes' own services) and mix prod's and the tuned profile's timing, two- and
three-region environments, lag before the onset, fencing that fails, disarmed starts and
an operator acting at a random moment. Expected outcome: ``any`` (only invariants apply).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from lambda_src.failover.budget import PROD, TUNED
from orchestrator.analysis.failover_sim.scenario import DEFAULT_REGIONS, Fault, Operator, Scenario

_WRITER_KINDS = ("region", "writer", "cluster", "lambda", "cloudwatch", "rds_api", "dynamodb")
_ANY_KINDS = ("secrets", "probe_auth", "lambda", "dynamodb", "rds_api", "cluster", "replication", "region")
_MODES = {
    "region": ("down", "timeout", "flapping"),
    "writer": ("down", "timeout", "errors", "flapping"),
    "cluster": ("down", "timeout", "flapping"),
    "lambda": ("down", "flapping"),
    "cloudwatch": ("down", "timeout", "stale"),
    "rds_api": ("down", "timeout", "errors"),
    "dynamodb": ("down", "timeout", "errors"),
    "secrets": ("down", "errors"),
    "probe_auth": ("errors",),
    "replication": ("stale",),
    "link": ("down", "timeout", "flapping"),
}


def random_scenario(seed: int, index: int) -> Scenario:
    rng = random.Random(f"{seed}:{index}")  # noqa: S311 - a reproducible schedule, not a secret
    regions = DEFAULT_REGIONS if rng.random() < 0.75 else DEFAULT_REGIONS[:2]
    home = regions[0]
    base = PROD if rng.random() < 0.5 else TUNED
    timing = type(base)(**{**base.as_dict(), "vantage_regions": len(regions) - 1})
    duration = timing.window_seconds + 600.0
    faults: list[Fault] = []
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
        roll = rng.random()
        if roll < 0.5:
            kind, target = rng.choice(_WRITER_KINDS), home
        elif roll < 0.7:
            kind, target = "link", f"{home}|{rng.choice(regions[1:])}"
        else:
            kind, target = rng.choice(_ANY_KINDS), rng.choice(regions)
        start = rng.uniform(30, duration - 250)
        end = None if rng.random() < 0.5 else start + rng.uniform(10, timing.window_seconds * 2)
        faults.append(
            Fault(
                component=f"{kind}:{target}",
                start=round(start, 1),
                end=None if end is None else round(end, 1),
                mode=rng.choice(_MODES[kind]),
                period=rng.choice((20.0, 60.0, 120.0, 300.0)),
            )
        )
    lag = {r: (rng.uniform(0.1, 2) if rng.random() < 0.8 else rng.uniform(10, 120)) for r in regions[1:]}
    operator = None
    if rng.random() < 0.15:
        operator = Operator(
            at=round(rng.uniform(50, duration - 50), 1),
            target=rng.choice(regions[1:]),
            break_glass=rng.random() < 0.3,
        )
    return Scenario(
        name=f"random-{seed}-{index}",
        expect="any",
        regions=regions,
        duration=duration,
        timing=timing,
        lag_seconds=lag,
        aurora_failover_seconds=rng.uniform(30, timing.aurora_failover_seconds),
        cloudwatch_delay_seconds=rng.uniform(20, timing.route53_evaluation_seconds),
        fencing=rng.random() < 0.7,
        armed=rng.random() < 0.9,
        operator=operator,
        faults=tuple(faults),
        seed=index,
    )


def random_scenarios(count: int, *, seed: int = 13) -> Iterator[Scenario]:
    for index in range(count):
        yield random_scenario(seed, index)
