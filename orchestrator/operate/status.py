"""`infra status`: the live facts of every region and of DNS, the problems found, and their text view.

Also the engine's :class:`~orchestrator.deploy.engine.LiveView` (where is the writer now?). Each
part of the status degrades on its own: a region whose endpoints fail shows as
``unreachable: <error>`` and the rest of the report is still collected.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from model import naming
from model.environment import Environment
from model.naming import writer_name
from orchestrator.operate import flight
from orchestrator.operate.aws import AwsSession, GlobalClusterReadError, describe_error, partition_home_region
from orchestrator.operate.readings import (
    BASE_ALARM_SUFFIXES,
    LAG_ALARM_SUFFIX,
    RECENT_WINDOW,
    WRITER_HEALTHY_METRIC,
    AlarmReading,
    ClusterView,
    GlobalClusterView,
    GlobalMember,
    LagReading,
    MetricValue,
    alarm_prefix,
    describe_cluster,
    read_alarms,
    read_global_cluster,
    read_health_metrics,
    read_replication_lag,
)

# --- status model ----------------------------------------------------------------------------


@dataclass
class RegionStatus:
    region: str
    file_role: str
    """primary | secondary (environment file) | not-in-file (a member the file doesn't list)."""
    cluster_id: str
    live_role: str = "unknown"
    """writer | secondary | not-a-member | unknown."""
    cluster: ClusterView | None = None
    synchronization_status: str | None = None
    replication_lag: LagReading | None = None
    health: dict[str, MetricValue] = field(default_factory=dict)
    alarms: list[AlarmReading] = field(default_factory=list)
    missing_alarms: list[str] = field(default_factory=list)
    stale_alarms: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    """Part (cluster, lag, health, alarms) -> "unreachable: ..." or "error: ..."."""

    @property
    def unreachable(self) -> bool:
        return (
            bool(self.errors)
            and all(e.startswith("unreachable") for e in self.errors.values())
            and (self.cluster is None)
        )


@dataclass
class DnsRecord:
    failover: str | None
    """PRIMARY | SECONDARY, None for a simple record."""
    set_identifier: str | None
    target: str
    region: str | None
    health_check_id: str | None
    healthy: bool | None = None
    health_source: str | None = None
    """route53 (GetHealthCheckStatus) | alarm (writer-health alarm state, fallback) | None."""
    health_detail: str | None = None
    name: str | None = None
    """The record's DNS name: the writer name, or a deeper pair of its failover chain."""
    alias_of: str | None = None
    """For an alias record: the name it points at (evaluated for its target's health)."""


@dataclass
class DnsStatus:
    zone_name: str
    record_name: str
    zone_id: str | None = None
    records: list[DnsRecord] = field(default_factory=list)
    answering: DnsRecord | None = None
    writer_endpoint: str | None = None
    answers_with_writer: bool | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class EnvironmentStatus:
    env: str
    account_id: str
    file_primary_region: str
    collected_at: datetime
    is_global: bool
    global_cluster_id: str | None
    secrets_region: str = ""
    """Where the owned secrets live (Environment.secrets_home): the home unless `infra rehome` moved it."""
    global_cluster: GlobalClusterView | None = None
    global_cluster_read_in: str | None = None
    global_cluster_error: str | None = None
    writer_region: str | None = None
    writer_matches_file: bool | None = None
    regions: list[RegionStatus] = field(default_factory=list)
    dns: DnsStatus | None = None
    automation: dict[str, Any] | None = None
    """The automated failover's arm state and flight lock (orchestrator.operate.flight), global only."""
    automation_error: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        document = _jsonable(self)
        document["ok"] = self.ok
        document["home_region"] = self.file_primary_region
        for region, status in zip(document["regions"], self.regions, strict=True):
            region["unreachable"] = status.unreachable
        return document

    def render_text(self) -> str:
        return _render_status(self)


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _error_text(exc: BaseException) -> str:
    # Connection-level failures (no endpoint, timeouts) mean the region is out of reach;
    # an AWS error answer (AccessDenied...) means it answered.
    prefix = "error" if isinstance(exc, ClientError) else "unreachable"
    return f"{prefix}: {describe_error(exc)}"


# --- collection ------------------------------------------------------------------------------


def _attempt(errors: dict[str, str], part: str, read: Callable[[], Any]) -> Any:
    try:
        return read()
    # Deliberately broad: one unreadable part must not take the whole status down.
    except Exception as exc:
        errors[part] = _error_text(exc)
        return None


def _collect_region(
    aws: AwsSession,
    env: Environment,
    status: RegionStatus,
    member: GlobalMember | None,
    writer_region: str | None,
    now: datetime,
) -> RegionStatus:
    region = status.region
    errors = status.errors
    identifier = member.arn if member is not None else status.cluster_id

    status.cluster = _attempt(
        errors, "cluster", lambda: describe_cluster(aws.client("rds", region), identifier)
    )
    if status.cluster is None and "cluster" not in errors:
        errors["cluster"] = f"not found: no cluster {status.cluster_id} in {region} (not deployed?)"
    cloudwatch_failed = False

    def cloudwatch_read(part: str, read: Callable[[Any], Any]) -> Any:
        nonlocal cloudwatch_failed
        if cloudwatch_failed:  # don't wait for the same dead endpoint once per part
            errors[part] = errors[next(p for p in ("health", "lag", "alarms") if p in errors)]
            return None
        result = _attempt(errors, part, lambda: read(aws.client("cloudwatch", region)))
        cloudwatch_failed = part in errors and errors[part].startswith("unreachable")
        return result

    health = cloudwatch_read(
        "health", lambda cw: read_health_metrics(cw, env, region, status.cluster_id, now)
    )
    status.health = health or {}
    if status.live_role == "secondary" and member is not None:
        source = writer_region or env.primary_region
        status.replication_lag = cloudwatch_read(
            "lag", lambda cw: read_replication_lag(cw, member.cluster_id, source, now)
        )
    alarms = cloudwatch_read("alarms", lambda cw: read_alarms(cw, alarm_prefix(env, region)))
    if alarms is not None:
        status.alarms = [_mark_expected(a, status.live_role) for a in alarms]
        present = {a.suffix for a in alarms}
        expected = list(BASE_ALARM_SUFFIXES)
        if env.is_global:  # every region has one, whichever is the writer (components/monitoring.py)
            expected.append(LAG_ALARM_SUFFIX)
        status.missing_alarms = [s for s in expected if s not in present]
    return status


def _mark_expected(alarm: AlarmReading, live_role: str) -> AlarmReading:
    # A reader is not a writer: its writer-health alarm stays in ALARM by design (monitoring.py).
    if (
        alarm.suffix == "writer-health"
        and alarm.state == "ALARM"
        and live_role in ("secondary", "not-a-member")
    ):
        return AlarmReading(
            alarm.name, alarm.suffix, alarm.state, alarm.updated_at, alarm.reason, expected=True
        )
    return alarm


def collect_status(
    env: Environment, aws: AwsSession, *, now: datetime | None = None, max_workers: int = 8
) -> EnvironmentStatus:
    """Everything `infra status` shows about the live environment. Never raises for AWS errors:
    each part that cannot be read is reported in place."""
    now = now or datetime.now(UTC)
    status = EnvironmentStatus(
        env=env.name,
        account_id=env.account_id,
        file_primary_region=env.primary_region,
        collected_at=now,
        secrets_region=env.secrets_home,
        is_global=env.is_global,
        global_cluster_id=naming.global_cluster_id(env.name) if env.is_global else None,
    )

    view: GlobalClusterView | None = None
    if env.is_global:
        try:
            read = read_global_cluster(aws, env)
        except GlobalClusterReadError as exc:
            status.global_cluster_error = str(exc)
        else:
            view = read.view
            status.global_cluster = view
            status.global_cluster_read_in = read.region
            if view is None:
                status.global_cluster_error = f"global cluster {status.global_cluster_id} does not exist"
            elif view.writer is not None:
                status.writer_region = view.writer.region

    regions: list[RegionStatus] = []
    members: dict[str, GlobalMember] = {m.region: m for m in view.members} if view else {}
    for region in [*env.regions, *(r for r in members if r not in env.regions)]:
        file_role = (
            "primary"
            if region == env.primary_region
            else "secondary"
            if region in env.secondary_regions
            else "not-in-file"
        )
        member = members.get(region)
        entry = RegionStatus(
            region=region,
            file_role=file_role,
            cluster_id=member.cluster_id if member else naming.cluster_id(env.name, region),
        )
        if member is not None:
            entry.live_role = "writer" if member.is_writer else "secondary"
            entry.synchronization_status = member.synchronization_status
        elif view is not None:
            entry.live_role = "not-a-member"
        elif not env.is_global:
            entry.live_role = "writer"
        regions.append(entry)

    # Regions are independent: a dead one costs its own timeouts, not everybody's.
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(regions)))) as pool:
        futures = [
            pool.submit(
                _collect_region, aws, env, entry, members.get(entry.region), status.writer_region, now
            )
            for entry in regions
        ]
        status.regions = [f.result() for f in futures]

    if not env.is_global:
        primary = status.regions[0]
        status.writer_region = env.primary_region if primary.cluster is not None else None
    if status.writer_region is not None:
        status.writer_matches_file = status.writer_region == env.primary_region

    status.dns = _attempt_dns(aws, env, status)
    if env.is_global:
        failed: dict[str, str] = {}
        dead = {r.region for r in status.regions if r.unreachable}
        status.automation = _attempt(
            failed, "automation", lambda: flight.automation_status(env, aws, unreachable=dead)
        )
        status.automation_error = failed.get("automation")
    status.problems = _problems(env, status)
    return status


# --- DNS -------------------------------------------------------------------------------------


def _normalise_host(name: str | None) -> str | None:
    return name.rstrip(".").lower() if name else None


def _health_from_observations(observations: list[Mapping[str, Any]]) -> tuple[bool | None, str]:
    """Route 53 health checkers report "Success: ..." or "Failure: ..." (StatusReport.Status)."""
    statuses = [str(o.get("StatusReport", {}).get("Status", "")) for o in observations]
    good = sum(s.startswith("Success") for s in statuses)
    bad = sum(s.startswith("Failure") for s in statuses)
    if good == bad:
        return None, f"{good} checkers healthy, {bad} unhealthy: undecided"
    detail = next((s for s in statuses if s.startswith("Success" if good > bad else "Failure")), "")
    return good > bad, f"{good}/{good + bad} checkers healthy ({detail})"


def _health_from_alarm(env: Environment, region_status: RegionStatus | None) -> tuple[bool | None, str]:
    if region_status is None:
        return None, "no alarm to fall back on"
    alarm = next((a for a in region_status.alarms if a.suffix == "writer-health"), None)
    if alarm is None:
        return None, "writer-health alarm not found"
    if alarm.state == "OK":
        return True, f"{alarm.name} is OK"
    if alarm.state == "ALARM":
        return False, f"{alarm.name} is in ALARM"
    mapped = {"Healthy": True, "Unhealthy": False}.get(env.dns.insufficient_data_health_status)
    return mapped, f"{alarm.name} has insufficient data ({env.dns.insufficient_data_health_status})"


def answering_record(records: list[DnsRecord]) -> DnsRecord | None:
    """The failover record Route 53 answers with (Route 53 API Reference, ResourceRecordSet Failover):
    primary healthy -> primary; primary unhealthy and secondary healthy -> secondary; secondary
    unhealthy -> primary regardless. None when the health that decides is unknown."""
    simple = [r for r in records if r.failover is None]
    if simple:
        return simple[0]
    primary = next((r for r in records if r.failover == "PRIMARY"), None)
    secondary = next((r for r in records if r.failover == "SECONDARY"), None)
    if primary is None or secondary is None:
        return primary or secondary
    if primary.healthy is True or secondary.healthy is False:
        return primary
    if primary.healthy is False and secondary.healthy is True:
        return secondary
    return None


def _attempt_dns(aws: AwsSession, env: Environment, status: EnvironmentStatus) -> DnsStatus:
    dns = DnsStatus(zone_name=env.dns.zone_name, record_name=writer_name(env.dns.zone_name))
    try:
        _read_dns(aws.client("route53", partition_home_region(env.primary_region)), env, status, dns)
    except Exception as exc:  # reported in place, like every other part
        dns.error = _error_text(exc)
    return dns


def _read_dns(route53: Any, env: Environment, status: EnvironmentStatus, dns: DnsStatus) -> None:
    # TestDNSAnswer would be the direct question, but it "only supports querying public hosted
    # zones" (Route 53 API Reference, TestDNSAnswer) and ours is private: the answer is derived
    # from the record sets and their health checks instead.
    zone_fqdn = env.dns.zone_name.rstrip(".") + "."
    answer = route53.list_hosted_zones_by_name(DNSName=zone_fqdn)
    zones = [
        z
        for z in answer.get("HostedZones", [])
        if z.get("Name") == zone_fqdn and z.get("Config", {}).get("PrivateZone")
    ]
    if not zones:
        dns.error = f"not found: no private hosted zone named {env.dns.zone_name}"
        return
    if len(zones) > 1:
        dns.notes.append(
            f"{len(zones)} private zones are named {env.dns.zone_name}; "
            f"reading the first that has {dns.record_name}"
        )
    record_fqdn = dns.record_name + "."
    for zone in zones:
        zone_id = str(zone["Id"]).split("/")[-1]
        sets = _record_sets(route53, zone_id, record_fqdn)
        if sets:
            dns.zone_id = zone_id
            break
    else:
        dns.zone_id = str(zones[0]["Id"]).split("/")[-1]
        dns.error = f"not found: no CNAME record {dns.record_name} in the zone"
        return

    by_region = {r.region: r for r in status.regions}
    endpoint_region = {
        _normalise_host(r.cluster.endpoint): r.region
        for r in status.regions
        if r.cluster and r.cluster.endpoint
    }
    # The writer name is a failover chain (components/programs_dns.py): follow its aliases.
    dns.answering = _answer_of(route53, env, dns, record_fqdn, by_region, endpoint_region, depth=0, sets=sets)
    writer = by_region.get(status.writer_region or "")
    dns.writer_endpoint = writer.cluster.endpoint if writer and writer.cluster else None
    if dns.answering is not None and dns.writer_endpoint is not None:
        dns.answers_with_writer = _normalise_host(dns.answering.target) == _normalise_host(
            dns.writer_endpoint
        )
    if dns.answering is not None and dns.answering.region is None and dns.answering.health_check_id is None:
        dns.notes.append(
            f"no region claims the writer alone: {dns.record_name} answers with its fallback, "
            f"{dns.answering.target} (Aurora's global writer endpoint, which follows the writer itself)"
        )


_MAX_CHAIN = 12  # one pair per region of the largest global database, and a margin


def _answer_of(
    route53: Any,
    env: Environment,
    dns: DnsStatus,
    record_fqdn: str,
    by_region: Mapping[str, RegionStatus],
    endpoint_region: Mapping[str | None, str],
    depth: int,
    sets: list[Mapping[str, Any]] | None = None,
) -> DnsRecord | None:
    """The record ``record_fqdn`` answers with, following failover aliases down the chain."""
    if depth > _MAX_CHAIN:
        dns.notes.append(f"{record_fqdn} is more than {_MAX_CHAIN} aliases deep: not followed further")
        return None
    level: list[DnsRecord] = []
    for record_set in sets if sets is not None else _record_sets(route53, str(dns.zone_id), record_fqdn):
        values = [str(v["Value"]) for v in record_set.get("ResourceRecords", [])]
        alias = record_set.get("AliasTarget") or {}
        target = values[0] if values else str(alias.get("DNSName", "")).rstrip(".")
        set_id = record_set.get("SetIdentifier")
        region = endpoint_region.get(_normalise_host(target)) if values else None
        if region is None and set_id and values:
            region = next((r for r in env.regions if str(set_id).endswith(f"-writer-{r}")), None)
        record = DnsRecord(
            failover=record_set.get("Failover"),
            set_identifier=set_id,
            target=target,
            region=region,
            health_check_id=record_set.get("HealthCheckId"),
            name=record_fqdn.rstrip("."),
            alias_of=target if alias else None,
        )
        level.append(record)
        dns.records.append(record)

    below: dict[int, DnsRecord | None] = {}
    for record in level:
        if record.alias_of is not None:
            # Evaluate target health: healthy when the target name has a healthy record.
            deeper = _answer_of(
                route53, env, dns, record.alias_of + ".", by_region, endpoint_region, depth + 1
            )
            below[id(record)] = deeper
            record.healthy = None if deeper is None else deeper.healthy is not False
            record.health_source = "alias"
            record.health_detail = f"alias of {record.alias_of}"
            continue
        if record.health_check_id is None:
            if record.failover is not None:
                record.healthy, record.health_detail = True, "no health check: always healthy"
            continue
        if record.failover is None:
            continue
        try:
            observations = route53.get_health_check_status(HealthCheckId=record.health_check_id)
            record.healthy, record.health_detail = _health_from_observations(
                observations.get("HealthCheckObservations", [])
            )
            record.health_source = "route53"
        except (BotoCoreError, ClientError) as exc:
            record.health_detail = f"GetHealthCheckStatus failed ({describe_error(exc)})"
        if record.healthy is None:
            # Route 53 evaluates the alarm's metric data, the alarm state follows the same data:
            # a close approximation when the health checkers' view is not available.
            healthy, detail = _health_from_alarm(env, by_region.get(record.region or ""))
            if healthy is not None:
                record.healthy, record.health_source = healthy, "alarm"
                record.health_detail = (
                    f"{record.health_detail + '; ' if record.health_detail else ''}{detail}"
                )

    answer = answering_record(level)
    if answer is not None and answer.alias_of is not None:
        return below.get(id(answer))
    return answer


def _record_sets(route53: Any, zone_id: str, record_fqdn: str) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    request: dict[str, Any] = {
        "HostedZoneId": zone_id,
        "StartRecordName": record_fqdn,
        "StartRecordType": "CNAME",
    }
    while True:
        answer = route53.list_resource_record_sets(**request)
        for record_set in answer.get("ResourceRecordSets", []):
            if (
                record_set.get("Name", "").lower() == record_fqdn.lower()
                and record_set.get("Type") == "CNAME"
            ):
                found.append(record_set)
        if (
            not answer.get("IsTruncated")
            or str(answer.get("NextRecordName", "")).lower() != record_fqdn.lower()
        ):
            return found
        request.update(
            StartRecordName=answer["NextRecordName"],
            StartRecordType=answer["NextRecordType"],
            StartRecordIdentifier=answer.get("NextRecordIdentifier"),
        )
        if request["StartRecordIdentifier"] is None:
            del request["StartRecordIdentifier"]


# --- problems and text -----------------------------------------------------------------------


def _problems(env: Environment, status: EnvironmentStatus) -> list[str]:
    problems: list[str] = []
    view = status.global_cluster
    if status.global_cluster_error:
        problems.append(status.global_cluster_error)
    if view is not None:
        if view.status != "available":
            problems.append(f"global cluster {view.identifier} status is {view.status}")
        if view.busy:
            state = view.failover_state or {}
            problems.append(
                f"a switchover/failover is in progress: {state.get('Status')} from "
                f"{state.get('FromDbClusterArn')} to {state.get('ToDbClusterArn')}"
            )
        if view.writer is None and not view.busy:
            problems.append(f"global cluster {view.identifier} has no single writer member")
    # A writer away from its home region is not a problem: ownership stays home (DESIGN.md 4b).
    threshold = env.monitoring.replication_lag_threshold_ms
    for region in status.regions:
        if region.unreachable:
            problems.append(f"{region.region}: {next(iter(region.errors.values()))}")
        else:
            problems.extend(f"{region.region}: {part} {error}" for part, error in region.errors.items())
        if region.live_role == "not-a-member" and region.file_role != "not-in-file":
            problems.append(
                f"{region.region}: cluster {region.cluster_id} is not a member of the global cluster"
            )
        if region.file_role == "not-in-file":
            problems.append(
                f"{region.region}: member {region.cluster_id} is not in environments/{env.name}.yaml"
            )
        if region.live_role == "secondary" and region.synchronization_status not in (None, "connected"):
            problems.append(f"{region.region}: synchronization status is {region.synchronization_status}")
        if (
            region.cluster is not None
            and "health" not in region.errors
            and WRITER_HEALTHY_METRIC not in region.health
        ):
            problems.append(
                f"{region.region}: no {WRITER_HEALTHY_METRIC} datapoint in the last {_minutes(RECENT_WINDOW)} "
                "minutes: is the health-check Lambda running? Route 53 treats the missing data as "
                f"{env.dns.insufficient_data_health_status}"
            )
        lag = region.replication_lag
        if lag is not None and lag.value_ms is None and "lag" not in region.errors:
            problems.append(
                f"{region.region}: no replication lag datapoint in the last {_minutes(RECENT_WINDOW)} minutes"
            )
        if lag is not None and lag.value_ms is not None and lag.value_ms > threshold:
            problems.append(f"{region.region}: replication lag {lag.value_ms:.0f} ms above {threshold} ms")
        for alarm in region.alarms:
            if alarm.state != "OK" and not alarm.expected:
                problems.append(f"{region.region}: alarm {alarm.name} is {alarm.state}")
        for suffix in region.missing_alarms:
            problems.append(f"{region.region}: alarm {alarm_prefix(env, region.region)}{suffix} is missing")
    dns = status.dns
    if dns is not None:
        if dns.error:
            problems.append(f"dns: {dns.error}")
        elif dns.answers_with_writer is False:
            problems.append(
                f"dns: {dns.record_name} answers with {dns.answering.target if dns.answering else '?'}, "
                f"not the writer {dns.writer_endpoint}"
            )
        elif dns.answers_with_writer is None:
            problems.append(f"dns: cannot tell whether {dns.record_name} answers with the writer")
    # The automation needs every region's failover table; with it off, a missing table only
    # makes `infra failover` ask for --break-glass, which the failover command itself explains.
    if env.failover.automated:
        automation = status.automation
        if automation is None:
            problems.append(f"automated failover: state unreadable ({status.automation_error})")
        else:
            problems.extend(
                f"automated failover: {text}"
                for text in {**automation["errors"], **automation["lock_errors"]}.values()
            )
    return problems


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _short_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%H:%M:%SZ") if value else "-"


def _render_status(status: EnvironmentStatus) -> str:
    lines = [
        f"Environment {status.env} (account {status.account_id}), collected "
        f"{status.collected_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    ]
    view = status.global_cluster
    if status.is_global:
        if view is not None:
            lines.append(
                f"Global cluster {view.identifier}: {view.status}, engine {view.engine_version or '?'} "
                f"(read in {status.global_cluster_read_in})"
            )
            if view.endpoint:
                lines.append(f"  global writer endpoint: {view.endpoint}")
            if view.busy:
                lines.append(f"  operation in progress: {dict(view.failover_state or {})}")
        else:
            lines.append(f"Global cluster {status.global_cluster_id}: {status.global_cluster_error}")
    if status.writer_region is None:
        lines.append("Writer: unknown")
    else:
        verdict = (
            "in its home region"
            if status.writer_matches_file
            else f"away from home, nothing to change; fail back with `infra failover --env {status.env} "
            f"--to {status.file_primary_region}` when you want to"
        )
        lines.append(f"Home region: {status.file_primary_region} (owns the global cluster, secrets and keys)")
        if status.secrets_region and status.secrets_region != status.file_primary_region:
            lines.append(
                f"Secrets region: {status.secrets_region} (the secrets' and their key's primaries, their "
                "rotation, bootstrap and migrator; kept there by `infra rehome`)"
            )
        lines.append(f"Writer: {status.writer_region} ({verdict})")
    lines.append("Regions:")
    for region in status.regions:
        lines.extend(_render_region(region))
    if status.dns is not None:
        lines.extend(_render_dns(status.dns))
    if status.automation is not None:
        lines.extend(flight.render_automation(status.automation))
    elif status.automation_error is not None:
        lines.append(f"Automated failover: {status.automation_error}")
    if status.problems:
        lines.append("Problems:")
        lines.extend(f"  - {p}" for p in status.problems)
    else:
        lines.append("No problems found.")
    return "\n".join(lines)


def _render_region(region: RegionStatus) -> list[str]:
    head = f"  {region.region:<15} {region.file_role:<11} {region.live_role:<13} {region.cluster_id}"
    if region.unreachable:
        first = next(iter(region.errors.values()))
        return [f"{head}  {first}"]
    lines = [head]
    cluster = region.cluster
    if cluster is not None:
        lines.append(
            f"      cluster {cluster.status or '?'}, engine {cluster.engine_version or '?'}, "
            f"endpoint {cluster.endpoint or '?'}"
        )
    if region.synchronization_status:
        lines.append(f"      synchronization {region.synchronization_status}")
    lag = region.replication_lag
    if lag is not None:
        if lag.value_ms is None:
            lines.append(f"      replication lag: no data (source {lag.source_region})")
        else:
            lines.append(
                f"      replication lag {lag.value_ms:.0f} ms ({lag.metric}, {_short_time(lag.at)}, "
                f"source {lag.source_region})"
            )
    if region.health:
        parts = [
            f"{name} {value.value:g} ({_short_time(value.at)})"
            for name, value in sorted(region.health.items())
        ]
        lines.append("      health: " + ", ".join(parts))
    elif "health" not in region.errors:
        lines.append("      health: no datapoints")
    if region.alarms:
        ok = sum(a.state == "OK" for a in region.alarms)
        other = [
            f"{a.suffix} {a.state}{' (expected on a reader)' if a.expected else ''}"
            for a in region.alarms
            if a.state != "OK"
        ]
        lines.append(f"      alarms: {ok} OK" + (", " + ", ".join(other) if other else ""))
    if region.missing_alarms:
        lines.append(f"      missing alarms: {', '.join(region.missing_alarms)}")
    lines.extend(f"      {part}: {error}" for part, error in region.errors.items())
    return lines


def _render_dns(dns: DnsStatus) -> list[str]:
    lines = [
        f"DNS {dns.record_name} (private zone {dns.zone_name}{', ' + dns.zone_id if dns.zone_id else ''}):"
    ]
    if dns.error:
        lines.append(f"  {dns.error}")
        return lines
    for record in dns.records:
        health = {True: "healthy", False: "unhealthy", None: "health unknown"}[record.healthy]
        marker = "  <- answering" if record is dns.answering else ""
        lines.append(
            f"  {record.failover or 'SIMPLE':<9} {record.region or '?':<15} {record.target}  {health}"
            f"{' via ' + record.health_source if record.health_source else ''}{marker}"
        )
    verdict = {True: "yes", False: "NO", None: "unknown"}[dns.answers_with_writer]
    lines.append(f"  answers with the writer ({dns.writer_endpoint or '?'}): {verdict}")
    lines.extend(f"  note: {n}" for n in dns.notes)
    return lines
