"""Where the environment's engine version stands in time: end of standard support, the newest
supported target, and what running past the end means (Extended Support or an AWS upgrade).

The answer depends on the date: ``today`` is an input (``infra plan --today``; by default the
current UTC date), so the plan is the same for the same files on the same day. Facts come from
the dated table ``model/data/aurora_mysql_versions.yaml``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from model import aws_rules
from model.aws_rules import EXTENDED_SUPPORT_DISABLED, EXTENDED_SUPPORT_ENROLLED
from model.environment import Environment


def utc_today() -> datetime.date:
    """The clock `infra plan` uses when no --today is given (tests pass their own date)."""
    return datetime.datetime.now(datetime.UTC).date()


class Status:
    SUPPORTED = "supported"
    ENDING = "ending"
    """End of standard support within the horizon: a warning."""
    ENDED = "ended"
    """Past end of standard support: an error."""
    UNKNOWN = "unknown"
    """The version is not in the table (the validator already refused it)."""


@dataclass(frozen=True)
class EngineSupport:
    today: datetime.date
    engine_version: str
    horizon_days: int
    status: str
    version: aws_rules.EngineVersion | None
    newest_target: aws_rules.EngineVersion | None
    """Newest listed version in standard support today that the environment could move to
    (same major version unless database.allow_major_upgrade)."""
    newest_target_any_major: aws_rules.EngineVersion | None
    recommended_lts: str
    lifecycle_support: str | None

    @property
    def end_date(self) -> datetime.date | None:
        return self.version.end_of_standard_support if self.version else None

    @property
    def days_left(self) -> int | None:
        return (self.end_date - self.today).days if self.end_date else None

    @property
    def enrolled_in_extended_support(self) -> bool:
        return self.lifecycle_support in (None, EXTENDED_SUPPORT_ENROLLED)

    def past_end_meaning(self) -> str:
        """What running past the end of standard support means for this environment."""
        if self.version is None:
            return "unknown version"
        major = self.version.major
        if self.version.support_ends_with == "minor":
            return (
                f"minor line {self.version.minor_line} ends standard support on {self.end_date}: AWS then "
                "upgrades the clusters to a newer minor version itself, in or outside the maintenance "
                "window (Extended Support covers major versions only)"
            )
        if self.enrolled_in_extended_support:
            how = (
                "AWS's default (engine_lifecycle_support unset)"
                if self.lifecycle_support is None
                else EXTENDED_SUPPORT_ENROLLED
            )
            pricing = (
                f" from {major.extended_support_year1_pricing_from}"
                if major.extended_support_year1_pricing_from
                else ""
            )
            until = f" until {major.end_of_extended_support}" if major.end_of_extended_support else ""
            return (
                f"enrolled in RDS Extended Support ({how}): after {major.end_of_standard_support_text} "
                f"AWS bills Extended Support per vCPU-hour on every instance{pricing}{until}, on top of "
                "the instance price"
            )
        return (
            f"Extended Support disabled ({EXTENDED_SUPPORT_DISABLED}): no Extended Support charges; "
            f"after {major.end_of_standard_support_text} AWS upgrades the major version itself"
        )

    def message(self) -> str:
        target = self.newest_target.version if self.newest_target else "none listed"
        if self.newest_target is None and self.newest_target_any_major is not None:
            target += (
                f" in this major version; newest across major versions: "
                f"{self.newest_target_any_major.version} (needs database.allow_major_upgrade: true)"
            )
        when = (
            f"ended on {self.end_date} ({-(self.days_left or 0)} days ago)"
            if self.status == Status.ENDED
            else f"ends on {self.end_date} (in {self.days_left} days, horizon {self.horizon_days})"
        )
        return (
            f"database.engine_version {self.engine_version}: standard support {when}; "
            f"{self.past_end_meaning()}. Newest supported target: {target} "
            f"(newest long-term-support release: {self.recommended_lts}). Change database.engine_version "
            f"and check with `infra upgrade check --to VERSION`"
        )

    def to_json(self) -> dict[str, Any]:
        v = self.version
        return {
            "today": self.today.isoformat(),
            "engine_version": self.engine_version,
            "display_version": v.parsed.display if v else None,
            "major_version": v.parsed.mysql_major if v else None,
            "minor_line": v.minor_line if v else None,
            "lts": v.lts if v else None,
            "release_date": v.release_date if v else None,
            "end_of_standard_support": self.end_date.isoformat() if self.end_date else None,
            "ends_with": v.support_ends_with if v else None,
            "major_end_of_standard_support": v.major.end_of_standard_support_text if v else None,
            "days_left": self.days_left,
            "horizon_days": self.horizon_days,
            "status": self.status,
            "newest_supported_target": self.newest_target.version if self.newest_target else None,
            "newest_supported_target_any_major": (
                self.newest_target_any_major.version if self.newest_target_any_major else None
            ),
            "recommended_lts": self.recommended_lts,
            "engine_lifecycle_support": self.lifecycle_support,
            "extended_support_enrolled": self.enrolled_in_extended_support,
            "past_end_of_standard_support": self.past_end_meaning(),
            "source": v.source if v else None,
            "checked": v.checked if v else None,
            "unverified": list(v.unverified) if v else [],
            "table_checked": aws_rules.engine_catalog()["checked"],
        }


def engine_support(env: Environment, today: datetime.date) -> EngineSupport:
    db = env.database
    version = aws_rules.known_engine_versions().get(db.engine_version)
    if version is None:
        status = Status.UNKNOWN
    elif not version.supported_on(today):
        status = Status.ENDED
    elif (version.end_of_standard_support - today).days <= db.support_horizon_days:
        status = Status.ENDING
    else:
        status = Status.SUPPORTED
    common = {"global_database": env.is_global}
    return EngineSupport(
        today=today,
        engine_version=db.engine_version,
        horizon_days=db.support_horizon_days,
        status=status,
        version=version,
        newest_target=aws_rules.newest_supported_target(
            db.engine_version, today, allow_major=db.allow_major_upgrade, **common
        ),
        newest_target_any_major=aws_rules.newest_supported_target(
            db.engine_version, today, allow_major=True, **common
        ),
        recommended_lts=aws_rules.recommended_engine_version(today),
        lifecycle_support=db.engine_lifecycle_support,
    )
