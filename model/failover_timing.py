"""The automated failover's timing settings, derived from the environment once.

Shared by the stack programs (the probe's and decider's environment variables, see
``components.failover``) and the plan's RTO/RPO model (``orchestrator.analysis.rto``), so the
figures the plan reports and the settings deployed can never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from model.environment import Environment

PROBE_INTERVAL_SECONDS = 10
"""Seconds between two probe attempts (a loop inside the one-minute invocation)."""
PROBE_CONNECT_TIMEOUT_SECONDS = 2
PROBE_READ_TIMEOUT_SECONDS = 2
"""The probe's read timeout, also its write timeout (pymysql applies both to the heartbeat write)."""
PROBE_ATTEMPT_SECONDS = PROBE_CONNECT_TIMEOUT_SECONDS + 2 * PROBE_READ_TIMEOUT_SECONDS
"""Upper bound of one attempt: connect + write + read timeouts."""
DECIDER_INTERVAL_SECONDS = 10
DECIDER_RUN_SECONDS = 5
"""Upper bound of one evaluation (the decider's client timeouts)."""
AURORA_FAILOVER_SECONDS = 120
"""Budget for FailoverGlobalCluster; AWS gives no bound (replace with a drill's figure)."""
LOOP_SECONDS = 50
"""How long one scheduled invocation loops (the schedule is once a minute, the timeout 60 s)."""
ARMED_BY_DEFAULT = True
"""The automation's arm state before anyone set it (the deciders' ``ARMED_BY_DEFAULT`` and what
``infra failover status`` reports): deploying ``failover.automated: true`` arms it."""


@dataclass(frozen=True, kw_only=True)
class FailoverTiming:
    """Every figure of the decider's timing model (the fields of lambda_src.failover.budget.Timing)."""

    window_seconds: int
    probe_interval_seconds: int
    probe_attempt_seconds: int
    decider_interval_seconds: int
    decider_run_seconds: int
    aurora_failover_seconds: int
    health_check_interval_seconds: int
    route53_evaluation_seconds: int
    dns_ttl_seconds: int
    rpo_budget_seconds: float
    cooldown_seconds: int
    vantage_regions: int

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


def failover_timing(env: Environment) -> FailoverTiming:
    f = env.failover
    return FailoverTiming(
        window_seconds=f.unhealthy_minutes * 60,
        probe_interval_seconds=PROBE_INTERVAL_SECONDS,
        probe_attempt_seconds=PROBE_ATTEMPT_SECONDS,
        decider_interval_seconds=DECIDER_INTERVAL_SECONDS,
        decider_run_seconds=DECIDER_RUN_SECONDS,
        aurora_failover_seconds=AURORA_FAILOVER_SECONDS,
        health_check_interval_seconds=env.monitoring.health_check_minutes * 60,
        route53_evaluation_seconds=env.monitoring.alarm_period_seconds,
        dns_ttl_seconds=env.dns.ttl_seconds,
        rpo_budget_seconds=float(f.rpo_budget_seconds),
        cooldown_seconds=f.cooldown_minutes * 60,
        vantage_regions=len(env.secondary_regions),
    )
