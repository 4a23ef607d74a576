"""Worst-case time from a primary outage to DNS answering with a secondary (the RTO budget).

Computed from the environment's own settings; every term says where its figure comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambda_src.failover import budget as failover_budget
from model.environment import Environment
from model.failover_timing import failover_timing as shared_timing

# Route 53 evaluates a CLOUDWATCH_METRIC health check from the alarm's metric data; its
# status follows the alarm's evaluation within about a minute (Route 53 Developer Guide,
# "How Amazon Route 53 determines whether a health check is healthy"). We budget 60 s.
ROUTE53_ALARM_PROPAGATION_S = 60
# CloudWatch publishes a standard-resolution datapoint for the minute after it ends; alarms
# evaluate once per period. Budget one period of metric delay.


@dataclass(frozen=True)
class RtoBudget:
    terms: list[tuple[str, int, str]]
    """The critical path: (term, seconds, where the figure comes from)."""
    manual_promotion: bool = False
    """Automated failover is off: an operator's `infra failover` adds to the total."""
    paths: dict[str, Any] | None = None
    """The outage-proof decider's worst case per outage path (full regional outage, writer-only
    outage), from the same model the failover simulator checks; None for a regional environment."""
    rpo_bound: dict[str, Any] | None = None
    """What the decider guarantees about data loss when it acts."""
    worst_path: str | None = None
    """Automated: which of ``paths`` the top-level terms are (the slowest)."""

    @property
    def total_seconds(self) -> int:
        return sum(seconds for _, seconds, _ in self.terms)

    @property
    def dominant(self) -> str:
        return max(self.terms, key=lambda t: t[1])[0] if self.terms else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "total_seconds": self.total_seconds,
            "dominant_term": self.dominant,
            "terms": [{"term": t, "seconds": s, "source": src} for t, s, src in self.terms],
            "manual_promotion": self.manual_promotion,
            "summary": self.summary,
            **({"paths": self.paths} if self.paths is not None else {}),
            **({"worst_path": self.worst_path} if self.worst_path is not None else {}),
            **({"rpo_bound": self.rpo_bound} if self.rpo_bound is not None else {}),
        }

    @property
    def summary(self) -> str:
        if not self.terms:
            return "not applicable (regional environment: no secondary to fail over to)"
        parts = ", ".join(f"{t} {s}s" for t, s, _ in self.terms)
        manual = (
            " plus the operator's `infra failover` (automated failover is off)"
            if self.manual_promotion
            else ""
        )
        path = f" ({self.worst_path.replace('_', ' ')}, the slower path)" if self.worst_path else ""
        return (
            f"worst case {self.total_seconds}s (~{self.total_seconds / 60:.1f} min){path}, dominated by "
            f"{self.dominant}{manual}: {parts}"
        )


def rto_budget(env: Environment) -> RtoBudget:
    """The critical path to DNS answering with the promoted secondary.

    Automated failover: the slower of the deciders' paths (full regional outage, writer-only
    outage; ``lambda_src.failover.budget``). Without it: Route 53 marking the writer's region
    unhealthy (health check, metric delay, alarm evaluation, Route 53) plus one TTL, and the
    operator's `infra failover` on top (``manual_promotion``).
    """
    if not env.is_global:
        return RtoBudget(terms=[])
    timing = failover_timing(env)
    paths = {path: failover_budget.rto_budget(timing, path).as_dict() for path in failover_budget.PATHS}
    extra: dict[str, Any] = {"paths": paths, "rpo_bound": failover_budget.rpo_bound(timing)}
    m = env.monitoring
    detect = [
        (
            "health check interval",
            m.health_check_minutes * 60,
            "monitoring.health_check_minutes (a failed check can land just after the outage)",
        ),
        ("metric publication delay", m.alarm_period_seconds, "one standard-resolution period"),
    ]
    route53_path = [
        *detect,
        (
            "writer-health alarm evaluation",
            m.alarm_period_seconds * m.alarm_evaluation_periods,
            "monitoring.alarm_period_seconds x monitoring.alarm_evaluation_periods",
        ),
        ("Route 53 health check follows the alarm", ROUTE53_ALARM_PROPAGATION_S, "Route 53 Developer Guide"),
    ]
    ttl = ("DNS TTL", env.dns.ttl_seconds, "dns.ttl_seconds")
    if not env.failover.automated:
        return RtoBudget(terms=[*route53_path, ttl], manual_promotion=True, **extra)
    # Automated: the outage-proof deciders' model (the same one the simulator checks), its
    # worst path as the top-level figure, so the summary and `paths` can never disagree.
    worst = max(paths.values(), key=lambda path: int(path["total_seconds"]))
    terms = [(str(t["term"]), int(t["seconds"]), str(t["source"])) for t in worst["terms"]]
    return RtoBudget(terms=terms, worst_path=str(worst["path"]), **extra)


def failover_timing(env: Environment) -> failover_budget.Timing:
    """The environment's settings as the outage-proof decider's timing model reads them: the
    same figures the stack programs deploy as the probe's and decider's settings
    (model.failover_timing)."""
    return failover_budget.Timing(**shared_timing(env).as_kwargs())
