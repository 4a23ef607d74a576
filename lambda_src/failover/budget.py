"""The failover timing model: worst-case RTO per outage path, the RPO bound, and a settings check.

Pure functions of :class:`Timing`, shared by the operator side (``infra plan``, the
environment validator) and the simulator, so the figure the plan prints is the figure the
simulator holds every must-act scenario to.

The critical path of an automated failover, from the moment the writer stops answering:

1. ``window``: every vantage point must have judged the writer dead for the whole window.
   The window starts at the last write a vantage saw succeed, which is at most the onset,
   so the window contributes exactly its length.
2. ``probe interval``: the first probe after the window closes is what completes it.
3. ``probe attempt bound``: that probe's connect/read/write timeouts (a black-holed writer
   answers nothing).
4. ``decider interval``: the target's decider evaluates every ``decider_interval_seconds``.
5. ``decider run``: its own-region reads, the lock and the FailoverGlobalCluster call, each
   bounded by client timeouts.
6. ``Aurora failover``: FailoverGlobalCluster until the target is the writer. AWS documents
   no bound ("typically ... within a few minutes"); this is a *budget*, to be replaced by a
   figure measured in a drill (Aurora User Guide, aurora-global-database-disaster-recovery).
7. ``new writer's health report``: the health Lambda of the promoted region must publish a
   WriterHealthy=1 datapoint (it runs every ``health_check_interval_seconds``).
8. ``metric to Route 53``: Route 53 evaluates the alarm's *metric data* (not the alarm
   state, Route 53 Developer Guide "How Amazon Route 53 determines whether a health check
   is healthy"), so ingestion and the health check's evaluation are one standard-resolution
   period, budgeted as ``route53_evaluation_seconds``.
9. ``DNS TTL``: clients' caches.

The writer-only path (instances dead, region's APIs up) is the same chain plus one term:
the writer region's own health metric is readable there, and its last healthy datapoint
counts as "alive" until the end of its one-minute period (the veto is conservative: the
writer may have been healthy at any moment of that minute), so the window can complete up
to one period later. The veto read itself is prefetched and never adds to a decision (see
``lambda_src.failover.facts``). The issue's goals (600 s at prod, 360 s tuned) are stated
for the full regional outage; ``check_timing`` holds that path to them.

The RPO bound. Data loss is estimated from the heartbeat replicated to the target before
the onset: everything committed before the newest replicated heartbeat is there, so the
loss is at most "the last moment the writer may have committed" minus "that heartbeat's
commit time". With probes every ``I`` seconds from every region the newest heartbeat is at
most ``I`` old at the onset plus the replication lag then, and the onset is bounded by the
first dead attempt, at most ``I`` plus the attempt bound later: the estimate is at least
``2 I + attempt bound`` whatever the lag, which is the floor the RPO budget must clear.
When the decider acts the estimate is within ``rpo_budget_seconds``; that is the bound
reported. It covers writes the writer accepted until the vantage points lost it; writes an
isolated but alive old writer accepts afterwards are not covered (Aurora's fencing is best
effort): see README "Health, DNS and failover".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

FULL_REGION_OUTAGE = "full_region_outage"
WRITER_ONLY_OUTAGE = "writer_only_outage"
PATHS = (FULL_REGION_OUTAGE, WRITER_ONLY_OUTAGE)

# EventBridge schedules run at most once a minute (AWS_FACTS.md, Lambda); shorter probe and
# decider intervals are loops inside one invocation.
SCHEDULE_SECONDS = 60
# Standard-resolution metrics (the only kind Route 53 health checks accept) have 60 s periods.
PERIOD_SECONDS = 60
# Amazon Time Sync keeps Lambda and Aurora clocks within milliseconds; one second covers it
# with room, and is added to every loss estimate.
CLOCK_SKEW_SECONDS = 1.0
# The goal of the issue: full regional outage to the writer name answering in 600 s at prod.
GOAL_SECONDS = 600
TUNED_GOAL_SECONDS = 360


@dataclass(frozen=True, kw_only=True)
class Timing:
    """Every setting the model reads. Defaults are prod's profile."""

    window_seconds: int = 300
    """Seconds every vantage must have judged the writer dead (failover.unhealthy_minutes x 60). Defaults to 300."""
    probe_interval_seconds: int = 10
    """Seconds between two probe attempts of one region (a loop inside the 1/min invocation). Defaults to 10."""
    probe_attempt_seconds: int = 6
    """Upper bound of one attempt: connect + read + write timeouts of the heartbeat write. Defaults to 6."""
    decider_interval_seconds: int = 10
    """Seconds between two evaluations of one decider. Defaults to 10."""
    decider_run_seconds: int = 5
    """Upper bound of one evaluation in its own and the other surviving regions (client timeouts). Defaults to 5."""
    aurora_failover_seconds: int = 120
    """Budget for FailoverGlobalCluster to make the target the writer. An assumption: AWS gives
    no bound; replace it with a drill's figure. Defaults to 120."""
    health_check_interval_seconds: int = 60
    """Interval of the health Lambda whose WriterHealthy drives Route 53. Defaults to 60."""
    route53_evaluation_seconds: int = 60
    """One standard-resolution period for the datapoint to reach Route 53's evaluation. Defaults to 60."""
    dns_ttl_seconds: int = 5
    """TTL of the writer name (dns.ttl_seconds). Defaults to 5."""
    rpo_budget_seconds: float = 30.0
    """Largest estimated loss at which the decider promotes (failover.rpo_budget_seconds). Defaults to 30."""
    cooldown_seconds: int = 3600
    """Minimum time between two promotions, automated or operator (failover.cooldown_minutes x 60). Defaults to 3600."""
    vantage_regions: int = 2
    """Regions other than the writer's (each is a vantage point). Defaults to 2 (prod)."""

    @property
    def max_gap_seconds(self) -> float:
        """Largest gap between two attempts of one vantage that still covers the window:
        one interval plus one attempt bound (a late start after a slow attempt)."""
        return float(self.probe_interval_seconds + self.probe_attempt_seconds)

    @property
    def freshness_seconds(self) -> float:
        """How old a vantage's newest attempt may be (one gap plus the decider's own run)."""
        return self.max_gap_seconds + self.decider_run_seconds

    @property
    def minimum_attempts(self) -> int:
        """Dead attempts one vantage needs inside the window."""
        return max(1, math.floor(self.window_seconds / self.max_gap_seconds))

    @property
    def rpo_floor_seconds(self) -> float:
        """Smallest loss estimate a promotion can see even with zero replication lag."""
        return 2 * self.probe_interval_seconds + self.probe_attempt_seconds + CLOCK_SKEW_SECONDS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PROD = Timing()
"""Prod's profile (environments/prod.yaml: unhealthy_minutes 5, rpo_budget_seconds 30, ttl 5)."""

TUNED = replace(
    PROD,
    window_seconds=90,
    probe_interval_seconds=5,
    probe_attempt_seconds=4,
    decider_interval_seconds=5,
    decider_run_seconds=4,
)
"""The 360 s profile: a 90 s window of probes every 5 s (18 dead attempts per vantage) and a
decider every 5 s. It trades a shorter tolerance of brown-outs (a 90 s loss of every
inter-region path with the writer region's metrics unreadable promotes), about twice the
probe writes and Lambda time, and shorter attempt timeouts (a writer slower than 4 s
counts as dead)."""


@dataclass(frozen=True)
class Term:
    name: str
    seconds: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"term": self.name, "seconds": self.seconds, "source": self.source}


@dataclass(frozen=True)
class PathBudget:
    path: str
    terms: tuple[Term, ...]

    @property
    def total_seconds(self) -> float:
        return sum(t.seconds for t in self.terms)

    @property
    def decision_seconds(self) -> float:
        """From the onset to the FailoverGlobalCluster call (the simulator checks this part too)."""
        return sum(t.seconds for t in self.terms if t.name in _DECISION_TERMS)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "total_seconds": self.total_seconds,
            "decision_seconds": self.decision_seconds,
            "terms": [t.as_dict() for t in self.terms],
        }


_DECISION_TERMS = frozenset(
    {"window", "probe interval", "probe attempt bound", "decider interval", "decider run"}
)


def rto_budget(timing: Timing, path: str = FULL_REGION_OUTAGE) -> PathBudget:
    """Worst-case seconds from the onset to the writer name answering with the new writer."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}; got {path!r}")
    t = timing
    terms = [
        Term(
            "window", t.window_seconds, "failover.unhealthy_minutes: every vantage dead for the whole window"
        ),
        Term("probe interval", t.probe_interval_seconds, "the attempt that completes the window"),
        Term("probe attempt bound", t.probe_attempt_seconds, "connect + read + write timeouts"),
        Term("decider interval", t.decider_interval_seconds, "the target's decider loop"),
        Term(
            "decider run",
            t.decider_run_seconds,
            "own-region reads, lock, FailoverGlobalCluster (client timeouts)",
        ),
        Term(
            "Aurora failover",
            t.aurora_failover_seconds,
            "budget; AWS: 'typically within a few minutes' (aurora-global-database-disaster-recovery)",
        ),
        Term("new writer's health report", t.health_check_interval_seconds, "health Lambda schedule"),
        Term(
            "metric to Route 53",
            t.route53_evaluation_seconds,
            "one standard-resolution period; Route 53 reads the alarm's metric data",
        ),
        Term("DNS TTL", t.dns_ttl_seconds, "dns.ttl_seconds"),
    ]
    if path == WRITER_ONLY_OUTAGE:
        terms.insert(
            1,
            Term(
                "writer region's last healthy minute",
                PERIOD_SECONDS,
                "its WriterHealthy datapoint vetoes until the end of its period",
            ),
        )
    return PathBudget(path=path, terms=tuple(terms))


def rpo_bound(timing: Timing) -> dict[str, Any]:
    """What the decider guarantees about data loss when it acts."""
    return {
        "rpo_budget_seconds": timing.rpo_budget_seconds,
        "estimate_floor_seconds": timing.rpo_floor_seconds,
        "bound_seconds": timing.rpo_budget_seconds,
        "covers": "writes committed before the last vantage point lost the writer",
        "does_not_cover": "writes an isolated, still-alive old writer accepts after that (fencing is best effort)",
    }


@dataclass(frozen=True)
class Finding:
    field: str
    message: str
    severity: str = "error"
    """"error" refuses the settings; "warning" is reported."""

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "severity": self.severity, "message": self.message}


def check_timing(
    timing: Timing, *, goal_seconds: float | None = None, profile: str = "failover"
) -> list[Finding]:
    """Every reason these settings cannot meet the quorum, the RPO budget or their own RTO goal.

    Messages carry the computed numbers and the fix. ``goal_seconds`` is the full regional
    outage's RTO the profile claims (600 for prod, 360 for the tuned profile); None skips
    that check.
    """
    t = timing
    findings: list[Finding] = []
    if t.vantage_regions < 1:
        findings.append(
            Finding(
                "failover.automated",
                "automated failover needs at least one region other than the writer's; got 0 vantage "
                "regions. Fix: add secondary_regions, or set failover.automated: false.",
            )
        )
    elif t.vantage_regions == 1:
        findings.append(
            Finding(
                "secondary_regions",
                "with one other region the quorum is that single vantage point: a loss of the path "
                "between the two regions while the writer region's metrics are unreadable is "
                "indistinguishable from a regional outage. Fix: add a third region for an independent "
                "vantage point, or accept this (README, 'Health, DNS and failover').",
                severity="warning",
            )
        )
    for name, value in (
        ("probe_interval_seconds", t.probe_interval_seconds),
        ("decider_interval_seconds", t.decider_interval_seconds),
        ("probe_attempt_seconds", t.probe_attempt_seconds),
    ):
        if value <= 0 or value > SCHEDULE_SECONDS:
            findings.append(
                Finding(
                    f"failover.{name}",
                    f"failover.{name} must be from 1 to {SCHEDULE_SECONDS} s (one scheduled invocation "
                    f"loops at that interval); got {value}. Fix: choose a value in that range.",
                )
            )
    if t.probe_attempt_seconds >= t.probe_interval_seconds > 0:
        findings.append(
            Finding(
                "failover.probe_attempt_seconds",
                f"an attempt bound of {t.probe_attempt_seconds} s must be shorter than the probe interval "
                f"of {t.probe_interval_seconds} s, or attempts overlap. Fix: shorten the timeouts or "
                "lengthen the interval.",
            )
        )
    if t.window_seconds < 3 * t.max_gap_seconds:
        findings.append(
            Finding(
                "failover.unhealthy_minutes",
                f"a window of {t.window_seconds} s holds {t.window_seconds / t.max_gap_seconds:.1f} attempt "
                f"gaps of {t.max_gap_seconds:g} s (probe interval {t.probe_interval_seconds} s + attempt "
                f"bound {t.probe_attempt_seconds} s); the quorum needs at least 3 dead attempts per "
                f"vantage, i.e. a window of at least {3 * t.max_gap_seconds:g} s. Fix: lengthen the window "
                "or probe more often.",
            )
        )
    if t.rpo_budget_seconds <= t.rpo_floor_seconds:
        findings.append(
            Finding(
                "failover.rpo_budget_seconds",
                f"an RPO budget of {t.rpo_budget_seconds:g} s can never be met: the loss estimate is at "
                f"least {t.rpo_floor_seconds:g} s (2 x probe interval {t.probe_interval_seconds} s + attempt "
                f"bound {t.probe_attempt_seconds} s + clock skew {CLOCK_SKEW_SECONDS:g} s) even with no lag. "
                "Fix: raise the budget above that or probe more often.",
            )
        )
    if t.cooldown_seconds < rto_budget(t).total_seconds:
        findings.append(
            Finding(
                "failover.cooldown_minutes",
                f"a cooldown of {t.cooldown_seconds} s is shorter than one failover's worst case "
                f"({rto_budget(t).total_seconds:g} s): a second promotion could start before the first "
                "has settled. Fix: raise the cooldown.",
            )
        )
    if goal_seconds is not None:
        for path in (FULL_REGION_OUTAGE,):
            budget = rto_budget(t, path)
            if budget.total_seconds > goal_seconds:
                terms = ", ".join(f"{term.name} {term.seconds:g}s" for term in budget.terms)
                findings.append(
                    Finding(
                        profile,
                        f"the {profile} profile's worst-case RTO for {path} is {budget.total_seconds:g} s, over "
                        f"its own goal of {goal_seconds:g} s ({terms}). Fix: shorten the window or the "
                        "intervals, or raise the goal.",
                    )
                )
    return findings
