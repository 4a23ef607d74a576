"""Which endpoint the writer name answers with: Route 53's documented rules over the planned records.

The DNS stack's writer name is a tree of failover records with calculated health checks
(components/programs_dns.py). This module evaluates that tree the way the Route 53 Developer
Guide says Route 53 does, so the plan can prove, without AWS, that the name answers with the
writer in every region and moves off a failed region:

* a ``CLOUDWATCH_METRIC`` check is healthy while its alarm is OK; with no data it takes its
  ``insufficientDataHealthStatus`` (``LastKnownStatus``: the status it had before); an
  inverted check reports the opposite (health-checks-creating-values);
* a ``CALCULATED`` check is healthy when at least ``childHealthThreshold`` children are;
* a failover pair answers with the PRIMARY while it is healthy, else with the SECONDARY; a
  record without a health check is always healthy; an alias with evaluate-target-health is
  healthy when its target name has a healthy record; when no record of a name is healthy,
  Route 53 treats them all as healthy (health-checks-how-route-53-chooses-records), so the
  PRIMARY answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Alarm(StrEnum):
    """What a region's writer-health alarm reports to Route 53."""

    OK = "ok"  # the region's cluster accepted the health check's write probe: it is the writer
    ALARM = "alarm"  # reachable, not the writer (read-only) or failing
    NO_DATA = "no_data"  # nothing published (dead region, or its CloudWatch unreachable)


@dataclass(frozen=True)
class Answer:
    endpoint: str
    """The CNAME value the name resolves to."""
    record: str
    """The record (resource name) that answered."""


class WriterDnsError(ValueError):
    """The planned records don't form a tree this model can evaluate (a cycle, a missing check)."""


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return value
    return [] if value in (None, "") else [value]


class WriterDns:
    """The DNS stack's records and health checks, from the planned resources (name, inputs, id)."""

    def __init__(self, resources: Iterable[Any]) -> None:
        self.checks: dict[str, Mapping[str, Any]] = {}
        self.records: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
        for r in resources:
            if r.type == "aws:route53/healthCheck:HealthCheck":
                self.checks[r.id] = r.inputs
            elif r.type == "aws:route53/record:Record":
                name = str(r.inputs.get("name", "")).rstrip(".")
                self.records.setdefault(name, []).append((r.name, r.inputs))

    def region_of_alarm(self, check: Mapping[str, Any]) -> str:
        return str(check.get("cloudwatchAlarmRegion"))

    def region_endpoints(self) -> dict[str, str]:
        """region -> the endpoint of the record that answers for that region's writer.

        A region's record is a PRIMARY record whose check is its alarm's metric check, or a
        calculated check with exactly one non-inverted metric child (the region's own alarm).
        """
        found: dict[str, str] = {}
        for entries in self.records.values():
            for _, inputs in entries:
                check_id = inputs.get("healthCheckId")
                values = _decode(inputs.get("records"))
                if not check_id or not values or str(check_id) not in self.checks:
                    continue
                check = self.checks[str(check_id)]
                own = [check] if check.get("type") == "CLOUDWATCH_METRIC" else []
                if check.get("type") == "CALCULATED":
                    children = [self.checks.get(c, {}) for c in _decode(check.get("childHealthchecks"))]
                    own = [
                        c
                        for c in children
                        if c.get("type") == "CLOUDWATCH_METRIC" and not c.get("invertHealthcheck")
                    ]
                if len(own) == 1:
                    found[self.region_of_alarm(own[0])] = str(values[0])
        return found

    def _check_healthy(
        self, check_id: str, alarms: Mapping[str, Alarm], last_known: Mapping[str, bool], depth: int = 0
    ) -> bool:
        if depth > 8 or check_id not in self.checks:
            raise WriterDnsError(f"health check {check_id!r} is not among the planned checks")
        check = self.checks[check_id]
        kind = check.get("type")
        if kind == "CALCULATED":
            children = _decode(check.get("childHealthchecks"))
            healthy = sum(self._check_healthy(c, alarms, last_known, depth + 1) for c in children)
            result = healthy >= int(check.get("childHealthThreshold") or 0)
        elif kind == "CLOUDWATCH_METRIC":
            region = self.region_of_alarm(check)
            state = alarms.get(region, Alarm.NO_DATA)
            if state is Alarm.NO_DATA:
                status = check.get("insufficientDataHealthStatus") or "LastKnownStatus"
                if status == "Healthy":
                    raw = True
                elif status == "Unhealthy":
                    raw = False
                else:
                    raw = last_known.get(region, False)
            else:
                raw = state is Alarm.OK
            # last_known holds the alarm's own status, before any inversion.
            result = (not raw) if check.get("invertHealthcheck") else raw
        else:
            raise WriterDnsError(f"health check {check_id!r} of type {kind!r} is not modelled")
        return result if not (kind == "CALCULATED" and check.get("invertHealthcheck")) else not result

    def _record_healthy(
        self,
        inputs: Mapping[str, Any],
        alarms: Mapping[str, Alarm],
        last_known: Mapping[str, bool],
        depth: int,
    ) -> bool:
        aliases = _decode(inputs.get("aliases"))
        if aliases and aliases[0].get("evaluateTargetHealth"):
            target = str(aliases[0].get("name", "")).rstrip(".")
            return any(
                self._record_healthy(i, alarms, last_known, depth + 1)
                for _, i in self.records.get(target, [])
            )
        check_id = inputs.get("healthCheckId")
        return True if not check_id else self._check_healthy(str(check_id), alarms, last_known)

    def resolve(
        self,
        name: str,
        alarms: Mapping[str, Alarm],
        last_known: Mapping[str, bool] | None = None,
        depth: int = 0,
    ) -> Answer:
        """The endpoint ``name`` answers with, given each region's alarm state.

        ``last_known`` is each region's alarm status before it lost its data (for checks whose
        insufficient-data status is ``LastKnownStatus``); a region not named was unhealthy.
        """
        if depth > 16:
            raise WriterDnsError(f"{name}: the records form a cycle")
        known = last_known or {}
        entries = self.records.get(name.rstrip("."), [])
        if not entries:
            raise WriterDnsError(f"no record named {name}")
        by_role: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for record_name, inputs in entries:
            policies = _decode(inputs.get("failoverRoutingPolicies"))
            role = str(policies[0].get("type")) if policies else "SIMPLE"
            by_role[role] = (record_name, inputs)
        if "SIMPLE" in by_role:
            chosen = by_role["SIMPLE"]
        else:
            primary, secondary = by_role.get("PRIMARY"), by_role.get("SECONDARY")
            if primary is None or secondary is None:
                raise WriterDnsError(f"{name}: a failover pair needs a PRIMARY and a SECONDARY record")
            if self._record_healthy(primary[1], alarms, known, depth):
                chosen = primary
            elif self._record_healthy(secondary[1], alarms, known, depth):
                chosen = secondary
            else:
                chosen = primary  # none healthy: all are treated as healthy, the PRIMARY answers
        record_name, inputs = chosen
        aliases = _decode(inputs.get("aliases"))
        if aliases:
            return self.resolve(str(aliases[0].get("name")), alarms, known, depth + 1)
        values = _decode(inputs.get("records"))
        return Answer(endpoint=str(values[0]) if values else "", record=record_name)


def alarms_with_writer(regions: Iterable[str], writer: str | None, **overrides: Alarm) -> dict[str, Alarm]:
    """Every region's alarm when ``writer`` is the writer and all regions publish; then overrides
    (keyword: region with dashes as underscores, e.g. ``us_east_1=Alarm.NO_DATA``)."""
    alarms = {r: (Alarm.OK if r == writer else Alarm.ALARM) for r in regions}
    for key, state in overrides.items():
        alarms[key.replace("_", "-")] = state
    return alarms
