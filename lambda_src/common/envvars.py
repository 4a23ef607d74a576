"""Reading a function's environment strictly: messages name the variable, the rule and the value.

A bad value raises ConfigurationError, which stops the invocation: the safe direction for
a function that could otherwise act on a misread setting.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from lambda_src.common.errors import ConfigurationError

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
FIX = "Fix: set it in the environment's failover settings and redeploy."


def fail(name: str, rule: str, value: str | None) -> ConfigurationError:
    shown = "<unset>" if value is None else repr(value)
    return ConfigurationError(f"{name} must be {rule}; got {shown}. {FIX}")


def required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None or not value.strip():
        raise fail(name, "a non-empty string", value)
    return value.strip()


def integer(env: Mapping[str, str], name: str, low: int, high: int, default: int | None = None) -> int:
    raw = env.get(name)
    if (raw is None or not raw.strip()) and default is not None:
        return default
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise fail(name, f"an integer from {low} to {high}", raw)
    return value


def seconds(
    env: Mapping[str, str], name: str, low: float, high: float, default: float | None = None
) -> float:
    raw = env.get(name)
    if (raw is None or not raw.strip()) and default is not None:
        return default
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        raise fail(name, f"a number of seconds from {low:g} to {high:g}", raw)
    return value


def boolean(env: Mapping[str, str], name: str, default: str) -> bool:
    raw = env.get(name, default)
    # Strict on purpose: a typo must not arm automated failover.
    if raw.strip().lower() not in ("true", "false"):
        raise fail(name, '"true" or "false"', raw)
    return raw.strip().lower() == "true"


def region(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None or not _REGION.match(value):
        raise fail(name, "an AWS region name such as 'us-east-1'", value)
    return value


def region_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name)
    regions = tuple(r.strip() for r in (raw or "").split(",") if r.strip())
    if not regions or any(not _REGION.match(r) for r in regions) or len(set(regions)) != len(regions):
        raise fail(name, "a comma-separated list of distinct AWS regions, home region first", raw)
    return regions


def region_map(env: Mapping[str, str], name: str, regions: tuple[str, ...] | None = None) -> dict[str, str]:
    """A JSON object {region: non-empty string}; with ``regions``, exactly those keys."""
    raw = env.get(name)
    try:
        data = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        data = None
    if (
        not isinstance(data, dict)
        or not data
        or any(
            not isinstance(k, str) or not _REGION.match(k) or not isinstance(v, str) or not v
            for k, v in data.items()
        )
    ):
        raise fail(name, 'a JSON object {"<region>": "<value>", ...}', raw)
    if regions is not None and set(data) != set(regions):
        raise fail(name, f"a JSON object with exactly the regions {', '.join(regions)}", raw)
    return {str(k): str(v) for k, v in data.items()}
