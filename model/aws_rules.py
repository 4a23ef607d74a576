"""Every AWS constraint the product encodes, in one place.

Each check is a small pure function that raises :class:`RuleViolation` naming the field,
the rule, the value received and the fix. Sources are the pages listed in
``shared/AWS_FACTS.md`` (cited per rule below); when AWS changes, fix the rule here and
the fact there, in one commit.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

import yaml

from model.excerpt import excerpt


class RuleViolation(ValueError):
    """A value breaks an AWS (or product) rule. Carries what a person needs to fix it."""

    def __init__(self, *, field: str, rule: str, value: Any, fix: str, source: str = "") -> None:
        self.field = field
        self.rule = rule
        self.value = value
        self.fix = fix
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{excerpt(self.field, 120).strip(chr(39))}: {self.rule} (got {excerpt(self.value)}). Fix: {self.fix}"
        if self.source:
            text += f" [source: {self.source}]"
        return text


# --- Regions -------------------------------------------------------------------------------

# Commercial AWS regions (AWS General Reference, "AWS service endpoints / Regions"), checked
# 2026-11-23. Opt-in regions must be enabled in the account before use.
AWS_REGIONS: frozenset[str] = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2",
        "af-south-1",
        "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
        "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
        "ap-southeast-5", "ap-southeast-7",
        "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
        "ca-central-1", "ca-west-1",
        "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3",
        "eu-south-1", "eu-south-2", "eu-north-1",
        "il-central-1", "me-south-1", "me-central-1", "mx-central-1", "sa-east-1",
    }
)  # fmt: skip

# Aurora User Guide, aurora-global-database.configuration.requirements (checked 2026-11-23):
# "an Aurora global database can have up to 10 secondary AWS Regions" (the older overview
# page still says five; the configuration-requirements page is the newer one).
MAX_SECONDARY_REGIONS = 10
SECONDARY_REGIONS_SOURCE = "Aurora User Guide, aurora-global-database.configuration.requirements"


def check_region(field: str, value: str) -> str:
    if value not in AWS_REGIONS:
        raise RuleViolation(
            field=field,
            rule="must be an AWS region code",
            value=value,
            fix=f"use a region such as us-east-1 or eu-west-1 (known: {', '.join(sorted(AWS_REGIONS))})",
            source="AWS General Reference, Regions",
        )
    return value


def check_secondary_regions(field: str, primary: str, secondaries: Sequence[str]) -> None:
    seen: set[str] = set()
    for index, region in enumerate(secondaries):
        if region == primary:
            raise RuleViolation(
                field=f"{field}[{index}]",
                rule="a secondary region must differ from the primary region (one cluster per region)",
                value=region,
                fix=f"remove {region} from {field} or choose another primary_region",
                source="Aurora User Guide, aurora-global-database.configuration.requirements",
            )
        if region in seen:
            raise RuleViolation(
                field=f"{field}[{index}]",
                rule="each secondary region may appear only once",
                value=region,
                fix=f"remove the duplicate {region}",
            )
        seen.add(region)
    if len(secondaries) > MAX_SECONDARY_REGIONS:
        raise RuleViolation(
            field=field,
            rule=f"an Aurora global database has at most {MAX_SECONDARY_REGIONS} secondary regions",
            value=list(secondaries),
            fix=f"keep at most {MAX_SECONDARY_REGIONS} secondary regions",
            source=SECONDARY_REGIONS_SOURCE,
        )


ROTATION_SAME_REGION_SOURCE = (
    "Secrets Manager User Guide, rotating-secrets-lambda-function-customizing: the Lambda function "
    "and the secret that invokes it must be in the same Region"
)


def check_secrets_region(field: str, value: str | None, regions: Sequence[str]) -> None:
    """The secrets' region runs their rotation function, which AWS requires in the secret's own
    region, from that region's stack: so it must be one of the environment's regions."""
    if value is not None and value not in regions:
        raise RuleViolation(
            field=field,
            rule=(
                "must be one of the environment's regions: that region's stack runs the rotation "
                "function, which must be in the secrets' region"
            ),
            value=value,
            fix=f"keep {value} in secondary_regions while the secrets live there, or remove {field} "
            f"if they live in primary_region",
            source=ROTATION_SAME_REGION_SOURCE,
        )


# --- Accounts and IAM ----------------------------------------------------------------------

_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_ROLE_ARN = re.compile(r"^arn:(aws|aws-us-gov|aws-cn):iam::([0-9]{12}):role/[A-Za-z0-9_+=,.@\-/]{1,512}$")


def check_account_id(field: str, value: str) -> str:
    if not _ACCOUNT_ID.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="an AWS account id is exactly 12 digits",
            value=value,
            fix='quote it as a string in YAML ("012345678901") so leading zeros survive',
        )
    return value


def check_role_arn(field: str, value: str, account_id: str | None) -> str:
    match = _ROLE_ARN.fullmatch(value)
    if not match:
        raise RuleViolation(
            field=field,
            rule="must be an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)",
            value=value,
            fix="use the ARN of the deploy role in the environment's account",
        )
    if account_id is not None and match.group(2) != account_id:
        raise RuleViolation(
            field=field,
            rule="the deploy role must live in the environment's own account",
            value=value,
            fix=f"use a role in account {account_id}, or fix account_id",
        )
    return value


# --- Network -------------------------------------------------------------------------------

# VPC CIDR blocks are /16 to /28 (Amazon VPC User Guide, "VPC CIDR blocks"); the network
# component carves three /(n+4) private subnets and /28-or-larger public ones, so we need /24
# or larger.
VPC_MIN_PREFIX = 16
VPC_MAX_PREFIX = 24
# RFC 1918 ranges (VPC User Guide recommends private ranges).
_PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def check_vpc_cidr(field: str, value: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise RuleViolation(
            field=field,
            rule="must be an IPv4 network in CIDR notation with no host bits set",
            value=value,
            fix=f"use e.g. 10.20.0.0/16 ({exc})",
        ) from None
    if not isinstance(network, ipaddress.IPv4Network):
        raise RuleViolation(field=field, rule="must be IPv4", value=value, fix="use e.g. 10.20.0.0/16")
    if not VPC_MIN_PREFIX <= network.prefixlen <= VPC_MAX_PREFIX:
        raise RuleViolation(
            field=field,
            rule=f"VPC prefix length must be /{VPC_MIN_PREFIX} to /{VPC_MAX_PREFIX} (AWS allows /16-/28; "
            "three private subnets and endpoints need room)",
            value=value,
            fix="use a /16 to /24 block",
            source="Amazon VPC User Guide, VPC CIDR blocks",
        )
    if not any(network.subnet_of(r) for r in _PRIVATE_RANGES):
        raise RuleViolation(
            field=field,
            rule="must be inside an RFC 1918 private range (10/8, 172.16/12, 192.168/16)",
            value=value,
            fix="pick a block from 10.0.0.0/8",
        )
    return network


@dataclass(frozen=True)
class CidrClaim:
    """One VPC block claimed by an environment's region (for organisation-wide overlap checks)."""

    environment: str
    region: str
    cidr: str
    source: str  # file the claim comes from


def check_no_overlap(field: str, claims: Iterable[CidrClaim]) -> None:
    """CIDRs never overlap across the regions and environments of one organisation."""
    checked: list[tuple[CidrClaim, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for claim in claims:
        network = ipaddress.ip_network(claim.cidr)
        for other, other_net in checked:
            if network.overlaps(other_net):
                raise RuleViolation(
                    field=field,
                    rule="VPC CIDR blocks must not overlap across the regions and environments "
                    f"of one organisation: {claim.environment}/{claim.region} {claim.cidr} ({claim.source}) "
                    f"overlaps {other.environment}/{other.region} {other.cidr} ({other.source})",
                    value=claim.cidr,
                    fix="choose a block no other environment or region uses",
                )
        checked.append((claim, network))


# --- Aurora engine and instances -----------------------------------------------------------

# Sources of the engine facts below: the dated table model/data/aurora_mysql_versions.yaml
# (each entry cites its pages) and the RDS API Reference.
ENGINE_TABLE_SOURCE = "model/data/aurora_mysql_versions.yaml (Aurora MySQL release calendars)"

# RDS API Reference, CreateDBCluster EngineLifecycleSupport (botocore rds 2014-10-31 model): "By
# default, this value is set to open-source-rds-extended-support, which enrolls your DB cluster into
# Amazon RDS Extended Support ... you can avoid charges for Extended Support by setting the value
# to open-source-rds-extended-support-disabled. In this case, creating the DB cluster will fail if
# the DB major version is past its end of standard support date." CreateGlobalCluster's parameter
# "only applies to Aurora PostgreSQL-based global databases", so for Aurora MySQL it is set on
# every member cluster. AWS bills Extended Support per vCPU-hour on top of the instance price
# (Aurora User Guide, extended-support-charges); charges start the day after the end of standard
# support of the major version.
EXTENDED_SUPPORT_ENROLLED = "open-source-rds-extended-support"
EXTENDED_SUPPORT_DISABLED = "open-source-rds-extended-support-disabled"
ENGINE_LIFECYCLE_SUPPORT_VALUES = (EXTENDED_SUPPORT_ENROLLED, EXTENDED_SUPPORT_DISABLED)
ENGINE_LIFECYCLE_SOURCE = (
    "RDS API Reference, CreateDBCluster / CreateGlobalCluster EngineLifecycleSupport; "
    "Aurora User Guide, extended-support-charges"
)

# Aurora major version -> MySQL major of its API strings (Aurora User Guide,
# AuroraMySQL.Updates.Versions: "mysql-major-version.mysql_aurora.aurora-mysql-version"; 8.4 uses
# the display number 8.4.N, API string 8.4.mysql_aurora.8.4.N).
_AURORA_TO_MYSQL_MAJOR = {"1": "5.6", "2": "5.7", "3": "8.0"}
_API_VERSION = re.compile(r"^(\d+\.\d+)\.mysql_aurora\.(\d+(?:\.\d+){1,2})$")
_DISPLAY_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class ParsedEngineVersion:
    """An Aurora MySQL version in either scheme: ``8.0.mysql_aurora.3.10.3`` (display 3.10.3) or
    ``8.4.mysql_aurora.8.4.7`` (display 8.4.7)."""

    text: str
    mysql_major: str
    """MySQL major version: 5.7, 8.0, 8.4 (also the key of major_versions in the table)."""
    aurora: tuple[int, ...]
    """The display number as integers: (3, 10, 3) or (8, 4, 7)."""

    @property
    def display(self) -> str:
        return ".".join(
            f"{p:02d}" if i == 1 and self.aurora[0] < 8 else str(p) for i, p in enumerate(self.aurora)
        )

    @property
    def api_string(self) -> str:
        return f"{self.mysql_major}.mysql_aurora.{self.display}"

    @property
    def sort_key(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return tuple(int(p) for p in self.mysql_major.split(".")), self.aurora


def parse_engine_version(value: str) -> ParsedEngineVersion:
    """Parse an API string or a display number; ValueError when it is neither."""
    match = _API_VERSION.fullmatch(value)
    if match:
        return ParsedEngineVersion(value, match.group(1), tuple(int(p) for p in match.group(2).split(".")))
    match = _DISPLAY_VERSION.fullmatch(value)
    if match:
        first, second, third = (int(g) for g in match.groups())
        if (first, second) == (8, 4):
            return ParsedEngineVersion(value, "8.4", (8, 4, third))
        if str(first) in _AURORA_TO_MYSQL_MAJOR:
            return ParsedEngineVersion(value, _AURORA_TO_MYSQL_MAJOR[str(first)], (first, second, third))
    raise ValueError(
        f"{value!r} is not an Aurora MySQL version (8.0.mysql_aurora.3.MM.P or 8.4.mysql_aurora.8.4.N)"
    )


def _date(value: str | None) -> datetime.date | None:
    """ISO date; a month only (the calendar says "April 2032") counts as its first day, the earliest
    date it can mean."""
    if value is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}", value):
        return datetime.date.fromisoformat(f"{value}-01")
    return datetime.date.fromisoformat(value)


@dataclass(frozen=True)
class MajorVersion:
    mysql_major: str
    aurora_major: str
    parameter_group_family: str
    end_of_standard_support: datetime.date
    end_of_standard_support_text: str
    extended_support_year1_pricing_from: datetime.date | None
    end_of_extended_support: datetime.date | None
    rpo_lag_metric_from: tuple[int, ...]
    source: str
    checked: str
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngineVersion:
    version: str
    mysql: str
    release_date: str
    lts: bool
    global_database: bool
    minor_line: str
    source: str
    checked: str
    unverified: tuple[str, ...] = ()
    minor_end_of_standard_support: datetime.date | None = None
    """Of the minor line (CAL); None when AWS publishes none."""

    @property
    def parsed(self) -> ParsedEngineVersion:
        return parse_engine_version(self.version)

    @property
    def major(self) -> MajorVersion:
        return major_versions()[self.parsed.mysql_major]

    @property
    def end_of_standard_support(self) -> datetime.date:
        """The earlier of the minor line's and the major version's end of standard support."""
        major = self.major.end_of_standard_support
        minor = self.minor_end_of_standard_support
        return major if minor is None else min(minor, major)

    @property
    def support_ends_with(self) -> str:
        """ "minor" (AWS upgrades the cluster to a newer minor) or "major" (Extended Support or upgrade)."""
        minor = self.minor_end_of_standard_support
        return "minor" if minor is not None and minor < self.major.end_of_standard_support else "major"

    def supported_on(self, today: datetime.date) -> bool:
        return today <= self.end_of_standard_support


@functools.cache
def engine_catalog() -> dict[str, Any]:
    text = resources.files("model").joinpath("data/aurora_mysql_versions.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def major_versions() -> dict[str, MajorVersion]:
    result = {}
    for key, info in engine_catalog().get("major_versions", {}).items():
        end = _date(info["end_of_standard_support"])
        assert end is not None
        result[key] = MajorVersion(
            mysql_major=key,
            aurora_major=str(info["aurora_major"]),
            parameter_group_family=info["parameter_group_family"],
            end_of_standard_support=end,
            end_of_standard_support_text=str(info["end_of_standard_support"]),
            extended_support_year1_pricing_from=_date(info.get("extended_support_year1_pricing_from")),
            end_of_extended_support=_date(info.get("end_of_extended_support")),
            rpo_lag_metric_from=tuple(int(p) for p in str(info["rpo_lag_metric_from"]).split(".")),
            source=info["source"],
            checked=info["checked"],
            unverified=tuple(info.get("unverified", ())),
        )
    return result


def known_engine_versions() -> dict[str, EngineVersion]:
    lines = engine_catalog().get("minor_lines", {})
    versions = {}
    for version, info in engine_catalog()["versions"].items():
        fields = {k: v for k, v in info.items() if k != "unverified"}
        line = lines.get(info.get("minor_line"), {})
        versions[version] = EngineVersion(
            version=version,
            unverified=tuple(info.get("unverified", ())),
            minor_end_of_standard_support=_date(line.get("end_of_standard_support")),
            **fields,
        )
    return versions


def _newest(candidates: Iterable[EngineVersion]) -> EngineVersion | None:
    return max(candidates, key=lambda v: v.parsed.sort_key, default=None)


def recommended_engine_version(today: datetime.date | None = None) -> str:
    """The newest long-term-support release still in standard support on ``today`` (default: the
    day the table was checked), by release date."""
    on = today or datetime.date.fromisoformat(engine_catalog()["checked"])
    lts = [v for v in known_engine_versions().values() if v.lts and v.supported_on(on)]
    if not lts:
        lts = [v for v in known_engine_versions().values() if v.lts]
    return max(lts, key=lambda v: (v.release_date, v.parsed.sort_key)).version


def newest_supported_target(
    current: str,
    today: datetime.date,
    *,
    global_database: bool,
    allow_major: bool = True,
) -> EngineVersion | None:
    """The newest listed version newer than ``current`` that is in standard support on ``today``;
    a new major version only when ``allow_major``. None when there is none."""
    try:
        base = parse_engine_version(current)
    except ValueError:
        base = None
    candidates = [
        v
        for v in known_engine_versions().values()
        if v.supported_on(today)
        and (v.global_database or not global_database)
        and (base is None or v.parsed.sort_key > base.sort_key)
        and (allow_major or base is None or v.parsed.mysql_major == base.mysql_major)
    ]
    return _newest(candidates)


def check_engine_version(field: str, value: str, *, global_database: bool) -> EngineVersion:
    catalog = engine_catalog()
    versions = known_engine_versions()
    for major, reason in catalog["end_of_life_major_versions"].items():
        if value.startswith(major):
            raise RuleViolation(
                field=field,
                rule=f"end-of-life engine: {reason} (FC-001-3)",
                value=value,
                fix=f"use an Aurora MySQL version 3 release, e.g. {recommended_engine_version()}",
                source=catalog["source"],
            )
    if value not in versions:
        hint = ""
        try:
            parsed = parse_engine_version(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.api_string in versions and parsed.api_string != value:
            hint = f"write the RDS API string {parsed.api_string} (the display number is {parsed.display}); "
        raise RuleViolation(
            field=field,
            rule="must be an Aurora MySQL version listed in model/data/aurora_mysql_versions.yaml "
            f"(checked {catalog['checked']})",
            value=value,
            fix=f"{hint}use one of {', '.join(sorted(versions))} (newest long-term-support release: "
            f"{recommended_engine_version()}), or add the new version there with its source",
            source=catalog["source"],
        )
    version = versions[value]
    if global_database and not version.global_database:
        newest = _newest(v for v in versions.values() if v.global_database)
        raise RuleViolation(
            field=field,
            rule="this engine version does not support Aurora global databases",
            value=value,
            fix="choose a version marked global_database: true"
            + (f", e.g. {newest.version}" if newest else ""),
            source="Aurora User Guide, Concepts.Aurora_Fea_Regions_DB-eng.Feature.GlobalDatabase",
        )
    return version


class UpgradeKind(StrEnum):
    NONE = "none"
    MINOR = "minor"
    """Same major version: secondaries first, then the primary (ModifyDBCluster per member)."""
    MAJOR = "major"
    """A new major version: one ModifyGlobalCluster with AllowMajorVersionUpgrade for all members."""


def check_engine_upgrade(
    field: str,
    current: str,
    target: str,
    *,
    allow_major: bool,
    global_database: bool,
    today: datetime.date | None = None,
) -> UpgradeKind:
    """The move from ``current`` (what runs) to ``target`` (listed, global if need be): never a
    downgrade, and a major upgrade only when the environment allows one (database.allow_major_upgrade).
    Sources: Aurora User Guide, AuroraMySQL.Upgrading.Procedure ("In-place major upgrades for global
    databases") and aurora-global-database-upgrade; RDS API ModifyGlobalCluster AllowMajorVersionUpgrade."""
    check_engine_version(field, target, global_database=global_database)
    on = today or datetime.date.fromisoformat(engine_catalog()["checked"])
    try:
        base = parse_engine_version(current)
    except ValueError:
        raise RuleViolation(
            field=field,
            rule="the running engine version cannot be compared (unknown scheme)",
            value=current,
            fix="check the cluster's EngineVersion in the RDS console",
        ) from None
    new = parse_engine_version(target)
    if new.sort_key == base.sort_key:
        return UpgradeKind.NONE
    if new.sort_key < base.sort_key:
        newest = newest_supported_target(
            current, on, global_database=global_database, allow_major=allow_major
        )
        raise RuleViolation(
            field=field,
            rule=f"Aurora cannot downgrade an engine: {target} is older than the running {current}",
            value=target,
            fix=(f"keep {current} or upgrade, e.g. to {newest.version}" if newest else f"keep {current}")
            + " (going back means restoring a snapshot into a new cluster)",
            source="Aurora User Guide, AuroraMySQL.Updates.Patching.ModifyEngineVersion",
        )
    if new.mysql_major != base.mysql_major:
        if not allow_major:
            same = newest_supported_target(current, on, global_database=global_database, allow_major=False)
            raise RuleViolation(
                field=field,
                rule=f"a major version upgrade ({base.mysql_major} -> {new.mysql_major}) needs the "
                "environment to allow one",
                value=target,
                fix="set database.allow_major_upgrade: true after reading the upgrade procedure in "
                "README.md" + (f", or stay on {base.mysql_major} with {same.version}" if same else ""),
                source="RDS API Reference, ModifyGlobalCluster AllowMajorVersionUpgrade",
            )
        return UpgradeKind.MAJOR
    return UpgradeKind.MINOR


def check_engine_lifecycle_support(field: str, value: str | None, *, protected: bool) -> str | None:
    if value is not None and value not in ENGINE_LIFECYCLE_SUPPORT_VALUES:
        raise RuleViolation(
            field=field,
            rule=f"must be one of {', '.join(ENGINE_LIFECYCLE_SUPPORT_VALUES)}",
            value=value,
            fix=f"use {EXTENDED_SUPPORT_DISABLED} (no Extended Support charges; AWS upgrades the cluster "
            f"at the end of standard support) or {EXTENDED_SUPPORT_ENROLLED} (billed per vCPU-hour)",
            source=ENGINE_LIFECYCLE_SOURCE,
        )
    if value is None and protected:
        raise RuleViolation(
            field=field,
            rule="a protected environment states its Extended Support choice explicitly: AWS's silent "
            f"default enrols the cluster ({EXTENDED_SUPPORT_ENROLLED}), billed per vCPU-hour after "
            "the end of standard support",
            value=value,
            fix=f"set {field}: {EXTENDED_SUPPORT_DISABLED} (AWS upgrades the major version at the end of "
            f"standard support) or {EXTENDED_SUPPORT_ENROLLED} (keep running it, paying Extended Support)",
            source=ENGINE_LIFECYCLE_SOURCE,
        )
    return value


def engine_parameter_family(engine_version: str) -> str:
    """Parameter group family of an Aurora MySQL version, from the table (8.0.mysql_aurora.3.x ->
    aurora-mysql8.0, 8.4.mysql_aurora.8.4.x or 8.4.x -> aurora-mysql8.4)."""
    try:
        major = parse_engine_version(engine_version).mysql_major
    except ValueError:
        major = engine_version.split(".mysql_aurora.")[0]
    info = major_versions().get(major)
    return info.parameter_group_family if info else "aurora-mysql" + major


def engine_publishes_rpo_lag(engine_version: str) -> bool:
    """AuroraGlobalDBRPOLag is published from Aurora MySQL 3.04.0 on (AWS_FACTS.md, DR page); for 8.4
    the table assumes it from the first release on (unverified, see the table)."""
    try:
        parsed = parse_engine_version(engine_version)
    except ValueError:
        return False
    info = major_versions().get(parsed.mysql_major)
    return info is not None and parsed.aurora >= info.rpo_lag_metric_from


# Global databases need memory-optimized classes (db.r5 or higher recommended); burstable
# classes are not supported. Aurora User Guide, aurora-global-database.configuration.requirements.
_GLOBAL_CLASS = re.compile(r"^db\.(r5|r6g|r6gd|r6i|r6id|r7g|r7gd|r7i|r8g|r8gd|x2g|x2gd)\.[0-9]*x?large$")
_ANY_AURORA_MYSQL_CLASS = re.compile(
    r"^db\.(t3|t4g|r[5-8][a-z]*|x2[a-z]*)\.(micro|small|medium|[0-9]*x?large)$"
)


def check_instance_class(field: str, value: str, *, global_database: bool) -> str:
    if global_database and not _GLOBAL_CLASS.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="an Aurora global database needs a memory-optimized instance class "
            "(db.r5 or newer r/x classes); burstable db.t* classes are not supported",
            value=value,
            fix="use e.g. db.r6g.large or db.r7g.large",
            source="Aurora User Guide, aurora-global-database.configuration.requirements",
        )
    if not _ANY_AURORA_MYSQL_CLASS.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="must be an Aurora MySQL DB instance class (db.<family>.<size>)",
            value=value,
            fix="use e.g. db.t4g.medium (regional dev) or db.r6g.large",
            source="Aurora User Guide, Concepts.DBInstanceClass",
        )
    return value


# Backtrack: Aurora MySQL only, at cluster creation only, at most 72 hours, and not on clusters
# in a global database (AWS_FACTS.md; FC-004-3).
BACKTRACK_MAX_HOURS = 72
BACKTRACK_SOURCE = (
    "Aurora User Guide, AuroraMySQL.Managing.Backtrack; AWS Prescriptive Guidance, aurora-replication-options"
)


def check_backtrack(field: str, hours: int, *, global_database: bool) -> int:
    if not 0 <= hours <= BACKTRACK_MAX_HOURS:
        raise RuleViolation(
            field=field,
            rule=f"the backtrack window is 0 to {BACKTRACK_MAX_HOURS} hours",
            value=hours,
            fix=f"use a value from 0 (off) to {BACKTRACK_MAX_HOURS}",
            source=BACKTRACK_SOURCE,
        )
    if global_database and hours > 0:
        raise RuleViolation(
            field=field,
            rule="AWS does not support backtrack on clusters in an Aurora global database "
            "(it would fail twenty minutes into the deployment)",
            value=hours,
            fix="set backtrack_hours: 0; recover with point-in-time restore within "
            "backup_retention_days instead (FC-004-3)",
            source=BACKTRACK_SOURCE,
        )
    return hours


# Backup retention: 1 to 35 days (CreateDBCluster BackupRetentionPeriod).
BACKUP_RETENTION_RANGE = (1, 35)


def check_backup_retention(field: str, days: int) -> int:
    low, high = BACKUP_RETENTION_RANGE
    if not low <= days <= high:
        raise RuleViolation(
            field=field,
            rule=f"Aurora keeps automated backups for {low} to {high} days",
            value=days,
            fix=f"use a value from {low} to {high}",
            source="RDS API Reference, CreateDBCluster BackupRetentionPeriod",
        )
    return days


_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def check_backup_window(field: str, value: str) -> str:
    match = _WINDOW.fullmatch(value)
    if not match:
        raise RuleViolation(
            field=field,
            rule="backup window is hh24:mi-hh24:mi in UTC",
            value=value,
            fix="use e.g. 03:00-04:00",
            source="RDS API Reference, CreateDBCluster PreferredBackupWindow",
        )
    start = int(match.group(1)) * 60 + int(match.group(2))
    end = int(match.group(3)) * 60 + int(match.group(4))
    length = (end - start) % (24 * 60)
    if length < 30:
        raise RuleViolation(
            field=field,
            rule="the backup window must be at least 30 minutes",
            value=value,
            fix="widen the window, e.g. 03:00-04:00",
            source="RDS API Reference, CreateDBCluster PreferredBackupWindow",
        )
    return value


_MAINTENANCE = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)$"
)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = 7 * 24 * 60


def _maintenance_minutes(value: str) -> tuple[int, int]:
    match = _MAINTENANCE.fullmatch(value)
    assert match is not None
    d1, h1, m1, d2, h2, m2 = match.groups()
    start = _DAYS.index(d1) * 1440 + int(h1) * 60 + int(m1)
    end = _DAYS.index(d2) * 1440 + int(h2) * 60 + int(m2)
    return start, end


def check_maintenance_window(field: str, value: str) -> str:
    if not _MAINTENANCE.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="maintenance window is ddd:hh24:mi-ddd:hh24:mi in UTC (days mon..sun)",
            value=value,
            fix="use e.g. sun:04:30-sun:05:30",
            source="RDS API Reference, CreateDBCluster PreferredMaintenanceWindow",
        )
    start, end = _maintenance_minutes(value)
    if (end - start) % _WEEK < 30:
        raise RuleViolation(
            field=field,
            rule="the maintenance window must be at least 30 minutes",
            value=value,
            fix="widen it, e.g. sun:04:30-sun:05:30",
            source="RDS API Reference, CreateDBCluster PreferredMaintenanceWindow",
        )
    return value


def check_windows_disjoint(field: str, backup: str, maintenance: str) -> None:
    """The daily backup window must not overlap the weekly maintenance window."""
    b = _WINDOW.fullmatch(backup)
    assert b is not None
    b_start = int(b.group(1)) * 60 + int(b.group(2))
    b_len = (int(b.group(3)) * 60 + int(b.group(4)) - b_start) % 1440
    m_start, m_end = _maintenance_minutes(maintenance)
    m_len = (m_end - m_start) % _WEEK
    for day in range(7):
        start = day * 1440 + b_start
        for shift in (-_WEEK, 0, _WEEK):  # the maintenance window may wrap past the week's end
            if start < m_start + shift + m_len and m_start + shift < start + b_len:
                raise RuleViolation(
                    field=field,
                    rule="the backup window must not overlap the maintenance window",
                    value=f"backup {backup}, maintenance {maintenance}",
                    fix="move one of them, e.g. backup 03:00-04:00 and maintenance sun:04:30-sun:05:30",
                    source="RDS API Reference, CreateDBCluster PreferredBackupWindow",
                )


# Aurora replicas: a cluster has 1 writer + up to 15 replicas (AWS_FACTS.md).
MAX_INSTANCES_PER_CLUSTER = 16


def check_instance_count(field: str, count: int, *, protected: bool) -> int:
    minimum = 2 if protected else 1
    if count < minimum:
        why = (
            "a protected environment needs a writer and a replica in another AZ"
            if protected
            else "a cluster needs at least one instance"
        )
        raise RuleViolation(
            field=field,
            rule=f"at least {minimum} instances: {why}",
            value=count,
            fix=f"use {minimum} or more",
        )
    if count > MAX_INSTANCES_PER_CLUSTER:
        raise RuleViolation(
            field=field,
            rule=f"an Aurora cluster has at most {MAX_INSTANCES_PER_CLUSTER} instances (1 writer + 15 replicas)",
            value=count,
            fix=f"use at most {MAX_INSTANCES_PER_CLUSTER}",
            source="Aurora User Guide, aurora-global-database.configuration.requirements",
        )
    return count


# --- Identifiers -----------------------------------------------------------------------------

# DB cluster / instance / global cluster identifiers: 1-63 letters, digits or hyphens, first a
# letter, no trailing hyphen, no two consecutive hyphens (RDS API CreateDBCluster).
_DB_IDENTIFIER = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)$")
# Parameter/subnet group names follow the same rule (1-255 chars for groups).
_GROUP_NAME = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}(?<!-)$")
# Lambda function names: 1-64 of letters, digits, hyphens, underscores.
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Environment names become stack names, identifiers and DNS labels.
_ENV_NAME = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,19}(?<!-)$")


def check_db_identifier(field: str, value: str) -> str:
    if not _DB_IDENTIFIER.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="DB identifiers are 1-63 letters, digits or hyphens, start with a letter, "
            "and have no trailing or double hyphen (FC-001-1)",
            value=value,
            fix="shorten or rename it (the environment name feeds into identifiers)",
            source="RDS API Reference, CreateDBCluster DBClusterIdentifier",
        )
    return value


def check_group_name(field: str, value: str) -> str:
    if not _GROUP_NAME.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="parameter and subnet group names are 1-255 letters, digits or hyphens, start with "
            "a letter, no trailing or double hyphen",
            value=value,
            fix="rename it",
            source="RDS API Reference, CreateDBClusterParameterGroup",
        )
    return value


# DB subnet group names: up to 255 letters, digits, periods, underscores, spaces or hyphens; not
# "default" (RDS API CreateDBSubnetGroup DBSubnetGroupName).
_SUBNET_GROUP_NAME = re.compile(r"^[A-Za-z0-9._ -]{1,255}$")


def check_subnet_group_name(field: str, value: str) -> str:
    if not _SUBNET_GROUP_NAME.fullmatch(value) or value.lower() == "default":
        raise RuleViolation(
            field=field,
            rule="DB subnet group names are 1-255 letters, digits, periods, underscores, spaces or hyphens, "
            "and not 'default'",
            value=value,
            fix="rename it",
            source="RDS API Reference, CreateDBSubnetGroup DBSubnetGroupName",
        )
    return value


def check_function_name(field: str, value: str) -> str:
    if not _FUNCTION_NAME.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="Lambda function names are 1-64 letters, digits, hyphens or underscores",
            value=value,
            fix="shorten or rename it",
            source="Lambda API Reference, CreateFunction FunctionName",
        )
    return value


# Secrets Manager names: 1-512 of letters, digits and /_+=.@- (CreateSecret Name); alarm names:
# 1-255 characters, no control characters (PutMetricAlarm AlarmName).
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_ALARM_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


def check_secret_name(field: str, value: str) -> str:
    if not _SECRET_NAME.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="secret names are 1-512 letters, digits or /_+=.@-",
            value=value,
            fix="rename it",
            source="Secrets Manager API Reference, CreateSecret Name",
        )
    return value


def check_alarm_name(field: str, value: str) -> str:
    if not _ALARM_NAME.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="alarm names are 1-255 characters without control characters",
            value=value,
            fix="shorten or rename it",
            source="CloudWatch API Reference, PutMetricAlarm AlarmName",
        )
    return value


def check_environment_name(field: str, value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="environment names are 1-20 lowercase letters, digits or hyphens, start with a letter, "
            "no trailing or double hyphen (they become stack names, DB identifiers and DNS labels)",
            value=value,
            fix="rename it, e.g. prod, staging, test-ab12",
        )
    return value


# --- DNS, alarms -------------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def check_zone_name(field: str, value: str) -> str:
    name = value.rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise RuleViolation(
            field=field,
            rule="must be a DNS name of at least two labels, each 1-63 lowercase letters, digits or "
            "hyphens not starting or ending with a hyphen, 253 characters at most",
            value=value,
            fix="use e.g. prod.db.internal",
            source="Route 53 Developer Guide, DomainNameFormat",
        )
    return name


# Record TTL: 0 to 2147483647 seconds (Route 53 API ResourceRecordSet TTL); we cap it lower
# because a writer name must follow failover quickly (AWS suggests ~5 s for the global endpoint).
MAX_WRITER_TTL = 300


def check_ttl(field: str, value: int) -> int:
    if not 1 <= value <= MAX_WRITER_TTL:
        raise RuleViolation(
            field=field,
            rule=f"a failover record's TTL must be 1 to {MAX_WRITER_TTL} seconds so clients follow a "
            "failover quickly (Route 53 allows up to 2147483647)",
            value=value,
            fix="use 5 to 60 (AWS suggests about 5 s for the global writer endpoint)",
            source="Route 53 API Reference, ResourceRecordSet TTL; Aurora User Guide, "
            "aurora-global-database-connecting",
        )
    return value


def check_alarm_period(field: str, period: int) -> int:
    """Alarms that drive Route 53 use standard-resolution metrics: period a multiple of 60 s."""
    if period < 60 or period % 60 != 0:
        raise RuleViolation(
            field=field,
            rule="alarms behind Route 53 CLOUDWATCH_METRIC health checks need standard-resolution "
            "metrics, so the period is a multiple of 60 seconds",
            value=period,
            fix="use 60, 120, 300, ...",
            source="Route 53 API Reference, AlarmIdentifier; CloudWatch API Reference, PutMetricAlarm",
        )
    return period


def check_alarm_window(field: str, period: int, evaluation_periods: int) -> None:
    if evaluation_periods < 1:
        raise RuleViolation(
            field=field,
            rule="evaluation periods must be at least 1",
            value=evaluation_periods,
            fix="use 1 or more",
        )
    if period < 3600 and period * evaluation_periods > 86400:
        raise RuleViolation(
            field=field,
            rule="period x evaluation periods may not exceed one day for periods under an hour",
            value=f"{period} s x {evaluation_periods}",
            fix="lower the evaluation periods",
            source="CloudWatch API Reference, PutMetricAlarm",
        )


def check_positive(field: str, value: float) -> float:
    if value <= 0:
        raise RuleViolation(
            field=field, rule="must be greater than zero", value=value, fix="use a positive value"
        )
    return value


def check_schedule_minutes(field: str, minutes: int) -> int:
    if minutes < 1:
        raise RuleViolation(
            field=field,
            rule="EventBridge schedules run at most once a minute",
            value=minutes,
            fix="use 1 or more",
            source="EventBridge User Guide, schedule expressions",
        )
    return minutes


def require_keys(field: str, mapping: Mapping[str, Any], keys: Iterable[str], *, fix: str) -> None:
    for key in keys:
        if key not in mapping:
            raise RuleViolation(field=f"{field}.{key}", rule="is required", value=None, fix=fix)


# --- Database and user names (what RDS and the bootstrap Lambda accept) ---------------------------

# RDS API Reference, CreateDBCluster (checked 2026-12-02): MasterUsername "must be 1 to 16 letters
# or numbers; first character must be a letter; can't be a reserved word for the chosen database
# engine"; DatabaseName (Aurora MySQL) "1 to 64 alphanumeric characters, must begin with a letter,
# subsequent characters letters, underscores or digits; can't be a word reserved by the engine".
# The product keeps database names to 16 characters (they enter other names).
_MASTER_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}$")
_DATABASE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
RDS_RESERVED_USERS = frozenset({"admin", "rdsadmin", "rdsrepladmin", "rdsproxyadmin"})
"""Users RDS creates or the product refuses as master (RDS User Guide, MySQL master user)."""
SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
"""Mirrors lambda_src/common/bootstrap_sql.py SYSTEM_SCHEMAS: bootstrap refuses these databases."""
# MySQL 8.0 Reference Manual, "Keywords and Reserved Words" (the reserved ones, marked (R)).
MYSQL_RESERVED_WORDS = frozenset(
    """
    accessible add all alter analyze and as asc asensitive before between bigint binary blob both by
    call cascade case change char character check collate column condition constraint continue
    convert create cross cube cume_dist current_date current_time current_timestamp current_user
    cursor database databases day_hour day_microsecond day_minute day_second dec decimal declare
    default delayed delete dense_rank desc describe deterministic distinct distinctrow div double
    drop dual each else elseif empty enclosed escaped except exists exit explain false fetch
    first_value float float4 float8 for force foreign from fulltext function generated get grant
    group grouping groups having high_priority hour_microsecond hour_minute hour_second if ignore
    in index infile inner inout insensitive insert int int1 int2 int3 int4 int8 integer intersect
    interval into io_after_gtids io_before_gtids is iterate join json_table key keys kill lag
    last_value lateral lead leading leave left like limit linear lines load localtime
    localtimestamp lock long longblob longtext loop low_priority master_bind
    master_ssl_verify_server_cert match maxvalue mediumblob mediumint mediumtext middleint
    minute_microsecond minute_second mod modifies natural not no_write_to_binlog nth_value ntile
    null numeric of on optimize optimizer_costs option optionally or order out outer outfile over
    partition percent_rank precision primary procedure purge range rank read reads read_write real
    recursive references regexp release rename repeat replace require resignal restrict return
    revoke right rlike row rows row_number schema schemas second_microsecond select sensitive
    separator set show signal smallint spatial specific sql sqlexception sqlstate sqlwarning
    sql_big_result sql_calc_found_rows sql_small_result ssl starting stored straight_join system
    table terminated then tinyblob tinyint tinytext to trailing trigger true undo union unique
    unlock unsigned update usage use using utc_date utc_time utc_timestamp values varbinary varchar
    varcharacter varying virtual when where while window with write xor year_month zerofill
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
RESERVED_WORDS_SOURCE = "MySQL 8.0 Reference Manual, Keywords and Reserved Words"


def check_master_username(field: str, value: str, *, application_users: Iterable[str]) -> str:
    users = sorted(application_users)
    if not _MASTER_USERNAME.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="the master user name is 1-16 ASCII letters or digits and must start with a letter "
            "(no underscores)",
            value=value,
            fix="use e.g. dbadmin",
            source="RDS API Reference, CreateDBCluster MasterUsername",
        )
    if value.lower() in RDS_RESERVED_USERS or value.lower() in MYSQL_RESERVED_WORDS:
        raise RuleViolation(
            field=field,
            rule="must not be a reserved name (admin, rdsadmin, rdsrepladmin, rdsproxyadmin) or a MySQL "
            "reserved word",
            value=value,
            fix="use e.g. dbadmin",
            source=f"RDS API Reference, CreateDBCluster MasterUsername; {RESERVED_WORDS_SOURCE}",
        )
    if value in users:
        raise RuleViolation(
            field=field,
            rule=f"must differ from the application users bootstrap creates ({', '.join(users)}): "
            "bootstrap refuses a user that is the master user",
            value=value,
            fix="use e.g. dbadmin",
            source="lambda_src/common/bootstrap_sql.py validate",
        )
    return value


def check_database_name(field: str, value: str) -> str:
    if not _DATABASE_NAME.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="the database name is 1-16 ASCII letters, digits or underscores and must start with a letter",
            value=value,
            fix="use e.g. app",
            source="RDS API Reference, CreateDBCluster DatabaseName",
        )
    if value.lower() in SYSTEM_SCHEMAS:
        raise RuleViolation(
            field=field,
            rule=f"must not be a system schema ({', '.join(sorted(SYSTEM_SCHEMAS))}): bootstrap refuses it",
            value=value,
            fix="use e.g. app",
            source="lambda_src/common/bootstrap_sql.py validate",
        )
    if value.lower() in MYSQL_RESERVED_WORDS:
        raise RuleViolation(
            field=field,
            rule="must not be a MySQL reserved word",
            value=value,
            fix="use e.g. app",
            source=f"RDS API Reference, CreateDBCluster DatabaseName; {RESERVED_WORDS_SOURCE}",
        )
    return value


# --- Tags -----------------------------------------------------------------------------------------

# AWS tagging rules (Tagging AWS Resources user guide, "Tag naming limits and requirements";
# the RDS AddTagsToResource Tag type), checked 2026-12-02: at most 50 user tags per resource;
# keys 1-128 and values 0-256 Unicode characters; letters, digits, white space and _ . : / = + - @;
# the aws: prefix (any case) is reserved for AWS in keys and values.
MAX_TAGS_PER_RESOURCE = 50
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 256
TAGS_SOURCE = "Tagging AWS Resources, tag naming limits and requirements"
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)


RESOURCE_OWN_TAGS = 2
"""Tags a resource adds to the providers' default tags, at most (Name; AuroraRole on clusters)."""


def check_tags(field: str, tags: Mapping[str, str], *, added_per_resource: int = RESOURCE_OWN_TAGS) -> None:
    """Every tag the providers put on every resource (plus ``added_per_resource`` of the resource's
    own: components.tags.resource_tags) must be one AWS accepts."""
    total = len(tags) + added_per_resource
    if total > MAX_TAGS_PER_RESOURCE:
        raise RuleViolation(
            field=field,
            rule=f"AWS allows at most {MAX_TAGS_PER_RESOURCE} tags per resource; with the required tags and "
            f"Name this environment puts {total} on each",
            value=f"{len(tags)} tags",
            fix=f"keep at most {MAX_TAGS_PER_RESOURCE - added_per_resource - 4} extra tags",
            source=TAGS_SOURCE,
        )
    for key, value in tags.items():
        where = f"{field}.{key}" if isinstance(key, str) and len(key) <= 60 else f"{field}.{excerpt(key, 60)}"
        check_tag_key(where, key)
        check_tag_value(where, value)


def check_tag_key(field: str, key: str) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY_CHARS or not _TAG_TEXT.fullmatch(key):
        raise RuleViolation(
            field=field,
            rule=f"a tag key is 1-{MAX_TAG_KEY_CHARS} letters, digits, spaces or _ . : / = + - @",
            value=key,
            fix="rename the tag",
            source=TAGS_SOURCE,
        )
    if key.lower().startswith("aws:"):
        raise RuleViolation(
            field=field,
            rule="tag keys starting with aws: are reserved for AWS",
            value=key,
            fix="rename the tag (e.g. without the aws: prefix)",
            source=TAGS_SOURCE,
        )
    return key


def check_tag_value(field: str, value: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_CHARS or not _TAG_TEXT.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule=f"a tag value is 0-{MAX_TAG_VALUE_CHARS} letters, digits, spaces or _ . : / = + - @",
            value=value,
            fix=f"shorten it to {MAX_TAG_VALUE_CHARS} characters and use only those characters",
            source=TAGS_SOURCE,
        )
    if value.lower().startswith("aws:"):
        raise RuleViolation(
            field=field,
            rule="tag values starting with aws: are reserved for AWS",
            value=value,
            fix="remove the aws: prefix",
            source=TAGS_SOURCE,
        )
    return value


# --- E-mail notifications -------------------------------------------------------------------------

# SNS Subscribe with protocol email: the endpoint is an e-mail address (SNS API Reference,
# Subscribe Endpoint). A pragmatic addr-spec: local part of RFC 5322 atext and dots, a domain of
# DNS labels with a dot, 254 characters at most (RFC 5321 path limit).
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def check_email(field: str, value: str) -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise RuleViolation(
            field=field,
            rule="must be an e-mail address (SNS e-mail subscriptions need one)",
            value=value,
            fix="write it like oncall@example.com",
            source="SNS API Reference, Subscribe Endpoint (protocol email)",
        )
    return value
