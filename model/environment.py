"""Environment definitions: a typed model validated before any stack program runs.

An environment file (``environments/<name>.yaml``) describes one AWS account's Aurora
deployment: its regions, network plan, database settings, deletion policy, monitoring,
DNS and failover. A bad file fails with :class:`EnvironmentFileError`, whose message names
the file, the field, the rule, the value and the fix; nothing is deployed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from model import aws_rules
from model.aws_rules import CidrClaim, RuleViolation
from model.excerpt import excerpt
from model.yaml_loader import EnvironmentYamlError, parse_yaml, read_text

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS_DIR = PROJECT_ROOT / "environments"
EPHEMERAL_DIR = PROJECT_ROOT / ".ephemeral"
"""Definitions written by `infra ephemeral up` (not checked in), so the same machine can name
them in `status`/`destroy`; the definition also travels in the stacks' config."""
APP_USERS: dict[str, str] = {"app": "app_rw", "readonly": "app_ro", "migrator": "app_migrator"}
PROBE_USER = "aurora_probe"
"""MySQL user of the automated failover's write probe (heartbeat table only; lambda_src.bootstrap_worker.probe_user)."""
"""Roles of the application users bootstrap creates -> their MySQL user names (components.database_setup)."""
DEFAULT_ENVIRONMENT = "dev"  # never prod (FC-004-9)
PROJECT_NAME = "aurora-global"


class EnvironmentFileError(Exception):
    """An environment definition is missing, unreadable or breaks a rule."""

    MAX_PROBLEMS = 20
    """At most this many problems are listed (each bounded): a message never grows with the input."""
    MAX_PROBLEM_CHARS = 1500

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path if len(path) <= 200 else f"{path[:200]}…({len(path)} chars)"
        shown = [
            p if len(p) <= self.MAX_PROBLEM_CHARS else f"{p[: self.MAX_PROBLEM_CHARS]}…({len(p)} chars)"
            for p in problems[: self.MAX_PROBLEMS]
        ]
        if len(problems) > self.MAX_PROBLEMS:
            shown.append(f"... and {len(problems) - self.MAX_PROBLEMS} more problems (fix these first)")
        self.problems = shown
        lines = "\n".join(f"  - {p}" for p in shown)
        super().__init__(f"invalid environment file {self.path}:\n{lines}")


EXPIRY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""How an expiry is written back (stack tags, `ephemeral list`): UTC, seconds, a Z."""


class ExpiryError(ValueError):
    """An expiry time that is not an ISO 8601 timestamp with a time zone."""


def parse_expiry(value: str) -> datetime:
    """An ``expires_at`` value as an aware UTC datetime: the one parser of the validator and the
    reaper. Accepts ISO 8601 timestamps with a date, a time and a UTC offset (Z, +00:00, +02:00,
    fractional seconds, a space instead of T); refuses dates without a time and times without an
    offset (a reaper can't guess the zone)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > 40:
        raise ExpiryError(f"not an ISO 8601 timestamp (got {excerpt(value)})")
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        raise ExpiryError(f"not an ISO 8601 timestamp (got {excerpt(value)})") from None
    if "T" not in text.upper() and " " not in text:
        raise ExpiryError(f"a date without a time (got {excerpt(value)})")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ExpiryError(f"has no time zone (got {excerpt(value)}); the reaper can't guess one")
    return moment.astimezone(UTC)


def format_expiry(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(EXPIRY_FORMAT)


class DeletionPolicy(StrEnum):
    PROTECTED = "protected"
    """Deletion protection on, a final snapshot with a deterministic identifier, no force-destroy."""
    EPHEMERAL = "ephemeral"
    """No deletion protection, no final snapshot: `infra destroy` removes everything."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSettings(_Model):
    cidrs: dict[str, str]
    """VPC CIDR block per region (every region of the environment, no overlaps anywhere). Required."""
    nat_gateway: StrictBool = False
    """Create public subnets, an internet gateway and one NAT gateway. Defaults to false: the
    Lambdas reach AWS APIs through VPC endpoints (FC-000-2)."""


class DatabaseSettings(_Model):
    engine_version: str
    """Aurora MySQL version, explicit (e.g. 8.0.mysql_aurora.3.10.3). Required: AWS changes these."""
    instance_class: str = "db.r6g.large"
    """Instance class of every instance. Defaults to db.r6g.large (global databases need r/x classes)."""
    instance_count: Annotated[int, Field(strict=True)] = 2
    """Instances per cluster (writer + replicas, spread across AZs). Defaults to 2."""
    backup_retention_days: Annotated[int, Field(strict=True)] = 7
    """Automated backup retention, 1-35 days. Defaults to 7."""
    backup_window: str = "03:00-04:00"
    """Daily backup window (UTC). Defaults to 03:00-04:00."""
    maintenance_window: str = "sun:04:30-sun:05:30"
    """Weekly maintenance window (UTC). Defaults to sun:04:30-sun:05:30."""
    backtrack_hours: Annotated[int, Field(strict=True)] | None = None
    """Backtrack window in hours (0-72). Defaults to 24 for regional environments and 0 for global
    ones, where AWS does not support it."""
    database_name: str = "app"
    """Application database created at bootstrap. Defaults to app."""
    master_username: str = "dbadmin"
    """Master user name (the password is generated, never configured). Defaults to dbadmin."""
    performance_insights: StrictBool = True
    """Performance Insights (encrypted with the region's key). Defaults to true."""
    enhanced_monitoring_interval: Annotated[int, Field(strict=True)] = 0
    """Enhanced monitoring interval in seconds (0, 1, 5, 10, 15, 30, 60). Defaults to 0 (off)."""
    log_exports: tuple[str, ...] = ("audit", "error", "slowquery")
    """CloudWatch log exports. Defaults to audit, error, slowquery."""
    secret_rotation_days: Annotated[int, Field(strict=True)] = 30
    """Rotation interval of every database secret (master and users), 1-1000 days. Defaults to 30."""
    schema_source: Literal["repository", "promotion"] = "promotion"
    """Where this environment's migrations come from: "repository" (the first environment of the
    chain, dev: `infra up` and `infra db migrate` publish the repository's files) or "promotion"
    (`infra db promote --from <env>` publishes exactly what that environment applied). Defaults
    to promotion."""
    engine_lifecycle_support: str | None = None
    """What happens past the major version's end of standard support, set on every member cluster
    (RDS EngineLifecycleSupport): open-source-rds-extended-support (keep running, AWS bills Extended
    Support per vCPU-hour) or open-source-rds-extended-support-disabled (no charges; AWS upgrades the
    cluster). Defaults to None: AWS's default (enrolled), refused for protected environments. Set it
    when the clusters are created: the provider does not change it on an existing cluster."""
    allow_major_upgrade: StrictBool = False
    """Allow `infra up` to upgrade to a new major version (e.g. 3.x to 8.4) when engine_version
    changes. Defaults to false: a major upgrade is refused."""
    support_horizon_days: Annotated[int, Field(strict=True)] = 180
    """`infra plan` warns when engine_version's end of standard support is this many days away or
    fewer, and errors once it has passed. Defaults to 180."""

    @field_validator("database_name")
    @classmethod
    def _database_name(cls, value: str) -> str:
        return aws_rules.check_database_name("database.database_name", value)

    @field_validator("master_username")
    @classmethod
    def _master_username(cls, value: str) -> str:
        return aws_rules.check_master_username(
            "database.master_username", value, application_users=[*APP_USERS.values(), PROBE_USER]
        )

    @field_validator("log_exports")
    @classmethod
    def _log_exports(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        allowed = {"audit", "error", "general", "slowquery", "iam-db-auth-error", "instance"}
        for item in value:
            if item not in allowed:
                raise RuleViolation(
                    field="database.log_exports",
                    rule=f"Aurora MySQL exports only {', '.join(sorted(allowed))}",
                    value=item,
                    fix="remove it",
                    source="RDS API Reference, CreateDBCluster EnableCloudwatchLogsExports",
                )
        return value

    @field_validator("enhanced_monitoring_interval")
    @classmethod
    def _monitoring(cls, value: int) -> int:
        if value not in (0, 1, 5, 10, 15, 30, 60):
            raise RuleViolation(
                field="database.enhanced_monitoring_interval",
                rule="must be one of 0, 1, 5, 10, 15, 30, 60",
                value=value,
                fix="use 0 (off) or 60",
                source="RDS API Reference, CreateDBInstance MonitoringInterval",
            )
        return value

    @field_validator("secret_rotation_days")
    @classmethod
    def _rotation(cls, value: int) -> int:
        if not 1 <= value <= 1000:
            raise RuleViolation(
                field="database.secret_rotation_days",
                rule="Secrets Manager rotates every 1 to 1000 days",
                value=value,
                fix="use e.g. 30",
                source="Secrets Manager API Reference, RotationRules AutomaticallyAfterDays",
            )
        return value


class MonitoringSettings(_Model):
    health_check_minutes: Annotated[int, Field(strict=True)] = 1
    """How often the health-check Lambda runs. Defaults to 1 (EventBridge's minimum)."""
    alarm_period_seconds: Annotated[int, Field(strict=True)] = 60
    """Period of the writer-health alarm (multiple of 60: Route 53 needs standard resolution). Defaults to 60."""
    alarm_evaluation_periods: Annotated[int, Field(strict=True)] = 3
    """Consecutive breaching periods before the writer-health alarm fires. Defaults to 3."""
    replication_lag_threshold_ms: Annotated[int, Field(strict=True)] = 30_000
    """Alarm when a secondary's RPO/replication lag exceeds this. Defaults to 30000 (30 s)."""
    cpu_threshold_percent: Annotated[int, Field(strict=True)] = 80
    """CPU alarm threshold. Defaults to 80."""
    freeable_memory_threshold_mb: Annotated[int, Field(strict=True)] = 512
    """Alarm below this much freeable memory. Defaults to 512."""
    connections_threshold: Annotated[int, Field(strict=True)] = 1000
    """Alarm above this many connections. Defaults to 1000."""
    log_retention_days: Annotated[int, Field(strict=True)] = 30
    """Retention of the Lambdas' log groups. Defaults to 30."""
    notification_emails: tuple[str, ...] = ()
    """E-mail addresses subscribed to each region's alarm topic. Defaults to none."""

    @field_validator("notification_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, address in enumerate(value):
            aws_rules.check_email(f"monitoring.notification_emails[{index}]", address)
        return value


class DnsSettings(_Model):
    zone_name: str
    """Private hosted zone (e.g. prod.db.internal); the writer name is writer.<zone>. Required."""
    ttl_seconds: Annotated[int, Field(strict=True)] = 5
    """TTL of the writer and reader records (1-300). Defaults to 5, as AWS suggests for writers."""
    insufficient_data_health_status: str = "Unhealthy"
    """What Route 53 assumes when the writer-health alarm has no data: a dead region publishes
    nothing, so the default Unhealthy fails over. Healthy, Unhealthy or LastKnownStatus."""


class FailoverSettings(_Model):
    automated: StrictBool = False
    """Deploy the outage-proof write probe and failover decider in every region (the
    ``<env>.failover`` stack). Defaults to false."""
    dry_run: StrictBool = True
    """The deciders only log and notify what they would do. Defaults to true."""
    unhealthy_minutes: Annotated[int, Field(strict=True)] = 5
    """Minutes the primary must be unhealthy before promoting. Defaults to 5."""
    rpo_budget_seconds: Annotated[int, Field(strict=True)] = 30
    """Largest replication lag at which a secondary may be promoted. Defaults to 30."""
    cooldown_minutes: Annotated[int, Field(strict=True)] = 60
    """Minimum time between two automated failovers. Defaults to 60."""


class StateSettings(_Model):
    backend_url: str | None = None
    """Pulumi state backend (e.g. s3://bucket/prefix?region=us-east-1, or https://api.pulumi.com).
    Defaults to None: a local file backend in .pulumi-state/ with a notice (first-time use)."""
    secrets_provider: str | None = None
    """Secrets provider of the stacks (e.g. awskms://alias/pulumi-prod?region=us-east-1).
    Defaults to None: Pulumi Cloud's, or a passphrase (PULUMI_CONFIG_PASSPHRASE) with a file backend."""

    @field_validator("backend_url")
    @classmethod
    def _backend(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("s3://", "file://", "https://", "gs://", "azblob://")):
            raise RuleViolation(
                field="state.backend_url",
                rule="must be a Pulumi backend URL (s3://, file://, https://, gs:// or azblob://)",
                value=value,
                fix="use e.g. s3://my-pulumi-state/aurora?region=us-east-1",
            )
        return value

    @field_validator("secrets_provider")
    @classmethod
    def _secrets(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("awskms://", "passphrase", "default", "gcpkms://",
                                                       "azurekeyvault://", "hashivault://")):  # fmt: skip
            raise RuleViolation(
                field="state.secrets_provider",
                rule="must be a Pulumi secrets provider (awskms://..., passphrase, default, ...)",
                value=value,
                fix="use e.g. awskms://alias/pulumi-prod?region=us-east-1",
            )
        return value


class Environment(_Model):
    """One environment: one AWS account, a primary region and zero or more secondary regions."""

    name: str
    """Environment name (lowercase, <= 20 chars); stack names are <name>.<region> and <name>.dns."""
    account_id: str
    """The environment's own AWS account (12 digits, quoted). Every provider pins it."""
    deploy_role_arn: str
    """Role the providers assume in that account."""
    primary_region: str
    """The home region and initial writer: its stack owns the global cluster, the secrets, their
    multi-region key and every generated password (DESIGN.md "Ownership and the writer"). The
    writer may be in any region; only `infra rehome` changes this."""
    secondary_regions: tuple[str, ...] = ()
    """Secondary regions of the global database (empty: a regional, non-global cluster)."""
    secrets_region: str | None = None
    """Where the owned secrets live: the primaries of the credentials secrets and of their
    multi-region key, and the functions that act on them (rotation, bootstrap, migrator, the
    migrations bucket). A secret's primary cannot change region, so `infra rehome` records the
    former home here; one of the environment's regions. Defaults to primary_region."""
    deletion_policy: DeletionPolicy
    """protected or ephemeral. Required: there is no safe default."""
    cost_center: str
    """CostCenter tag on every resource. Required (FC-004-10)."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Extra tags for every resource. Defaults to none."""
    network: NetworkSettings
    database: DatabaseSettings
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    dns: DnsSettings
    failover: FailoverSettings = Field(default_factory=FailoverSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    """Where the stacks' state and secrets live (see StateSettings). Defaults to a local backend."""
    expires_at: str | None = None
    """Expiry time (ISO 8601, UTC) of an ephemeral environment; the reaper destroys it after that."""

    @property
    def is_global(self) -> bool:
        return bool(self.secondary_regions)

    @property
    def protected(self) -> bool:
        return self.deletion_policy is DeletionPolicy.PROTECTED

    @property
    def regions(self) -> tuple[str, ...]:
        return (self.primary_region, *self.secondary_regions)

    @property
    def region_order(self) -> tuple[str, ...]:
        """The regions in the order the environment was created with, which `infra rehome` keeps:
        the secrets' region first, then the secondaries as listed, the home in the slot the
        secrets' region has there. Without secrets_region it is ``regions``. Resources whose
        identity or inputs follow an order (the writer DNS chain, peering, the deciders' ranking)
        follow this one, so moving the home changes none of them."""
        if self.secrets_home == self.primary_region:
            return self.regions
        rest = [self.primary_region if r == self.secrets_home else r for r in self.secondary_regions]
        return (self.secrets_home, *rest)

    @property
    def secrets_home(self) -> str:
        """The region of the owned secrets' primaries (secrets_region, else the home region)."""
        return self.secrets_region or self.primary_region

    @property
    def secret_replica_regions(self) -> tuple[str, ...]:
        """The regions holding replicas of the owned secrets and key: every other region."""
        return tuple(r for r in self.regions if r != self.secrets_home)

    @property
    def backtrack_hours(self) -> int:
        if self.database.backtrack_hours is not None:
            return self.database.backtrack_hours
        return 0 if self.is_global else 24

    def base_tags(self) -> dict[str, str]:
        """Tags every resource carries (through the providers' default tags)."""
        return {
            **self.tags,
            "Environment": self.name,
            "Project": PROJECT_NAME,
            "ManagedBy": "pulumi",
            "CostCenter": self.cost_center,
        }

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return aws_rules.check_environment_name("name", value)

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        return aws_rules.check_account_id("account_id", value)

    @field_validator("primary_region")
    @classmethod
    def _primary(cls, value: str) -> str:
        return aws_rules.check_region("primary_region", value)

    @field_validator("secondary_regions")
    @classmethod
    def _secondaries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, region in enumerate(value):
            aws_rules.check_region(f"secondary_regions[{index}]", region)
        return value

    @field_validator("secrets_region")
    @classmethod
    def _secrets_region(cls, value: str | None) -> str | None:
        return None if value is None else aws_rules.check_region("secrets_region", value)

    @field_validator("expires_at")
    @classmethod
    def _expires_at(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return format_expiry(parse_expiry(value))  # one spelling in tags and listings
        except ExpiryError as exc:
            raise RuleViolation(
                field="expires_at",
                rule=f"must be an ISO 8601 timestamp with a time zone: {exc}",
                value=value,
                fix="write it like 2026-12-31T18:00:00Z",
            ) from None

    @field_validator("cost_center")
    @classmethod
    def _cost_center(cls, value: str) -> str:
        if not value.strip():
            raise RuleViolation(
                field="cost_center",
                rule="must not be empty (FC-004-10)",
                value=value,
                fix="name the budget owner",
            )
        return aws_rules.check_tag_value("cost_center", value)  # it is the CostCenter tag

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Environment:
        aws_rules.check_role_arn("deploy_role_arn", self.deploy_role_arn, self.account_id)
        # Every resource carries base_tags() through the providers' default tags, plus its Name.
        aws_rules.check_tags("tags", self.base_tags())
        aws_rules.check_secondary_regions("secondary_regions", self.primary_region, self.secondary_regions)
        aws_rules.check_secrets_region("secrets_region", self.secrets_region, self.regions)
        self._check_network()
        self._check_database()
        self._check_monitoring()
        aws_rules.check_zone_name("dns.zone_name", self.dns.zone_name)
        aws_rules.check_ttl("dns.ttl_seconds", self.dns.ttl_seconds)
        if self.dns.insufficient_data_health_status not in ("Healthy", "Unhealthy", "LastKnownStatus"):
            raise RuleViolation(
                field="dns.insufficient_data_health_status",
                rule="must be Healthy, Unhealthy or LastKnownStatus",
                value=self.dns.insufficient_data_health_status,
                fix="use Unhealthy (a dead region publishes no data and should fail over)",
                source="Route 53 API Reference, HealthCheckConfig InsufficientDataHealthStatus",
            )
        self._check_failover()
        return self

    def _check_network(self) -> None:
        for region in self.regions:
            if region not in self.network.cidrs:
                raise RuleViolation(
                    field=f"network.cidrs.{region}",
                    rule="every region of the environment needs a VPC CIDR block",
                    value=None,
                    fix=f"add '{region}: 10.x.0.0/16' under network.cidrs",
                )
        for region, cidr in self.network.cidrs.items():
            if region not in self.regions:
                raise RuleViolation(
                    field=f"network.cidrs.{region}",
                    rule="names a region the environment does not use",
                    value=cidr,
                    fix=f"remove it, or add {excerpt(region)} to secondary_regions",
                )
            aws_rules.check_vpc_cidr(f"network.cidrs.{region}", cidr)
        aws_rules.check_no_overlap("network.cidrs", self.cidr_claims(source="this file"))

    def _check_database(self) -> None:
        db = self.database
        aws_rules.check_engine_version(
            "database.engine_version", db.engine_version, global_database=self.is_global
        )
        aws_rules.check_instance_class(
            "database.instance_class", db.instance_class, global_database=self.is_global
        )
        aws_rules.check_instance_count("database.instance_count", db.instance_count, protected=self.protected)
        aws_rules.check_backup_retention("database.backup_retention_days", db.backup_retention_days)
        aws_rules.check_backup_window("database.backup_window", db.backup_window)
        aws_rules.check_maintenance_window("database.maintenance_window", db.maintenance_window)
        aws_rules.check_windows_disjoint("database.backup_window", db.backup_window, db.maintenance_window)
        aws_rules.check_backtrack(
            "database.backtrack_hours", self.backtrack_hours, global_database=self.is_global
        )
        aws_rules.check_engine_lifecycle_support(
            "database.engine_lifecycle_support", db.engine_lifecycle_support, protected=self.protected
        )
        if not 0 <= db.support_horizon_days <= 3650:
            raise RuleViolation(
                field="database.support_horizon_days",
                rule="the end-of-support warning horizon is 0 to 3650 days",
                value=db.support_horizon_days,
                fix="use e.g. 180 (about the time an upgrade takes to plan and roll out)",
            )

    def _check_monitoring(self) -> None:
        m = self.monitoring
        aws_rules.check_schedule_minutes("monitoring.health_check_minutes", m.health_check_minutes)
        aws_rules.check_alarm_period("monitoring.alarm_period_seconds", m.alarm_period_seconds)
        aws_rules.check_alarm_window(
            "monitoring.alarm_evaluation_periods", m.alarm_period_seconds, m.alarm_evaluation_periods
        )
        for name in (
            "replication_lag_threshold_ms",
            "cpu_threshold_percent",
            "freeable_memory_threshold_mb",
            "connections_threshold",
            "log_retention_days",
        ):
            aws_rules.check_positive(f"monitoring.{name}", getattr(m, name))

    def _check_failover(self) -> None:
        f = self.failover
        if f.automated and not self.is_global:
            raise RuleViolation(
                field="failover.automated",
                rule="automated failover needs at least one secondary region to promote",
                value=True,
                fix="set failover.automated: false, or add secondary_regions",
            )
        for name in ("unhealthy_minutes", "rpo_budget_seconds", "cooldown_minutes"):
            aws_rules.check_positive(f"failover.{name}", getattr(f, name))

    def cidr_claims(self, *, source: str) -> list[CidrClaim]:
        return [
            CidrClaim(environment=self.name, region=region, cidr=cidr, source=source)
            for region, cidr in self.network.cidrs.items()
        ]

    def to_config_json(self) -> str:
        """The definition as stack config (so `pulumi preview` of an ephemeral stack sees it)."""
        definition = self.model_dump(mode="json")
        if definition["secrets_region"] is None:
            del definition["secrets_region"]  # files without it keep their exact definition
        return json.dumps(definition, sort_keys=True)


# --- Loading ----------------------------------------------------------------------------------

_TYPE_FIXES = {
    "string_type": "write it as a quoted string",
    "int_type": "write a whole number without quotes",
    "bool_type": "write true or false without quotes",
    "dict_type": "write a mapping (key: value lines)",
    "tuple_type": "write a list ([a, b] or '- a' lines)",
    "list_type": "write a list ([a, b] or '- a' lines)",
    "enum": "use one of the listed values",
    "int_parsing": "write a whole number",
}


def _field_path(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            text = str(part) if len(str(part)) <= 60 else excerpt(str(part), 60)
            path += f".{text}" if path else text
    return path or "(file)"


def _problems_from_validation(error: ValidationError) -> list[str]:
    problems: list[str] = []
    for item in error.errors(include_url=False):
        ctx = item.get("ctx") or {}
        violation = ctx.get("error")
        if isinstance(violation, RuleViolation):
            problems.append(violation.render())
            continue
        field = _field_path(item["loc"])
        kind = item["type"]
        if kind == "missing":
            problems.append(f"{field}: is required (got nothing). Fix: add {field} to the file")
        elif kind == "extra_forbidden":
            problems.append(
                f"{field}: unknown key (got {excerpt(item['input'])}). Fix: remove it or correct its spelling "
                "(see the environment file reference in README.md)"
            )
        else:
            fix = _TYPE_FIXES.get(kind, "see the environment file reference in README.md")
            problems.append(
                f"{field}: {excerpt(item['msg'], 200)} (got {excerpt(item['input'])}). Fix: {fix}"
            )
    return problems


def parse_environment(data: Any, *, path: str) -> Environment:
    """Validate already-parsed data; raise EnvironmentFileError naming the file."""
    if data is None:
        raise EnvironmentFileError(path, ["(file): is empty. Fix: copy environments/dev.yaml and edit it"])
    if not isinstance(data, dict):
        raise EnvironmentFileError(
            path, [f"(file): must be a mapping of fields (got {type(data).__name__}). Fix: see README.md"]
        )
    try:
        return Environment.model_validate(data)
    except ValidationError as exc:
        raise EnvironmentFileError(path, _problems_from_validation(exc)) from None
    except RuleViolation as exc:  # raised outside pydantic's wrapping (defensive)
        raise EnvironmentFileError(path, [exc.render()]) from None


def load_environment_file(path: Path, *, check_organisation: bool = True) -> Environment:
    """Read, parse (strictly: see model.yaml_loader) and validate one environment file."""
    display = _display_path(path)
    try:
        text = read_text(path, missing_hint=_available_hint())
        if not text.strip():
            raise EnvironmentFileError(
                display, ["(file): is empty. Fix: copy environments/dev.yaml and edit it"]
            )
        data = parse_yaml(text)
    except EnvironmentYamlError as exc:
        raise EnvironmentFileError(display, [exc.problem]) from None
    env = parse_environment(data, path=display)
    if check_organisation:
        check_against_organisation(env, path)
    return env


def needs_embedded_definition(env: Environment) -> bool:
    """True when the stack programs can't find this exact definition in environments/<name>.yaml
    (an --env-file, an edited copy, an ephemeral environment): it then travels in stack config."""
    path = environment_path(env.name)
    if not path.exists():
        return True
    try:
        return load_environment_file(path, check_organisation=False) != env
    except EnvironmentFileError:
        return True


def environment_path(name: str) -> Path:
    return ENVIRONMENTS_DIR / f"{name}.yaml"


def checked_in_environment_names() -> list[str]:
    return sorted(p.stem for p in ENVIRONMENTS_DIR.glob("*.yaml"))


def environment_file(name: str) -> Path:
    """The file ``--env name`` reads: the checked-in environments/<name>.yaml, else an ephemeral
    one created on this machine (.ephemeral/<name>.yaml); UnknownEnvironmentError if neither."""
    if not _NAME_LIKE.fullmatch(name):  # a path, or no name at all: never looked up on disk
        raise UnknownEnvironmentError(name)
    path = environment_path(name)
    if _lexists(path):
        return path
    ephemeral = EPHEMERAL_DIR / f"{name}.yaml"
    if _lexists(ephemeral):
        return ephemeral
    raise UnknownEnvironmentError(name)


def load_environment(name: str) -> Environment:
    """Load the environment ``--env name`` names (environment_file)."""
    path = environment_file(name)
    return load_environment_file(path, check_organisation=path.parent != EPHEMERAL_DIR)


_NAME_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _lexists(path: Path) -> bool:
    """True when something is at ``path`` (even a broken or looping link: reading it reports why)."""
    try:
        return os.path.lexists(path)
    except (OSError, ValueError):
        return False


def save_ephemeral_definition(env: Environment) -> Path:
    EPHEMERAL_DIR.mkdir(exist_ok=True)
    path = EPHEMERAL_DIR / f"{env.name}.yaml"
    path.write_text(yaml.safe_dump(env.model_dump(mode="json"), sort_keys=False))
    return path


class UnknownEnvironmentError(Exception):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"unknown environment {excerpt(name)}: no file environments/{excerpt(name).strip(chr(39))}.yaml. "
            f"{_available_hint()}"
        )


def check_against_organisation(env: Environment, path: Path) -> None:
    """CIDRs of this environment must not overlap any other checked-in environment's."""
    claims = env.cidr_claims(source=_display_path(path))
    for other_name in checked_in_environment_names():
        other_path = environment_path(other_name)
        if other_path.resolve() == path.resolve() or other_name == env.name:
            continue
        try:
            other = load_environment_file(other_path, check_organisation=False)
        except EnvironmentFileError:
            continue  # that file's own validation reports it when it is used
        claims.extend(other.cidr_claims(source=_display_path(other_path)))
    try:
        aws_rules.check_no_overlap("network.cidrs", claims)
    except RuleViolation as exc:
        raise EnvironmentFileError(_display_path(path), [exc.render()]) from None


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # outside the cwd, or a symlink loop
        return str(path)


def _available_hint() -> str:
    names = checked_in_environment_names()
    return f"checked-in environments: {', '.join(names) or '(none)'}; or pass --env-file PATH"
