"""Scenario files: faults with start, end and mode, and the expected outcome.

A scenario is a YAML (or JSON) mapping::

    name: full-region-outage            # required, unique
    description: what it shows
    expect: act                         # act | no_act | any
    path: full_region_outage            # RTO path a must-act scenario is held to
    regions: [us-east-1, us-west-2, eu-west-1]   # home first; defaults to prod's
    duration: 1200                      # simulated seconds
    timing: {window_seconds: 300}       # overrides of lambda_src.failover.budget.Timing
    lag_seconds: {us-west-2: 0.5}       # replication lag into each region before the onset
    aurora_failover_seconds: 90         # how long Aurora's failover takes in this run
    cloudwatch_delay_seconds: 60        # metric ingestion delay
    fencing: true                       # does Aurora fence an old writer that is still alive
    armed: true                         # arm state at the start
    onset: 100                          # defaults to the earliest fault's start
    operator: {at: 430, target: us-west-2, break_glass: false}
    faults:
      - {component: "region:us-east-1", start: 100, mode: down}
      - {component: "link:us-east-1|us-west-2", start: 100, end: 400, mode: timeout}
      - {component: "writer:us-east-1", start: 100, mode: flapping, period: 40}

Components: ``region:R`` (everything in R), ``writer:R`` (the writer instances of R's
cluster), ``cluster:R`` (all of R's instances), ``rds_api:R``, ``secrets:R``, ``lambda:R``,
``dynamodb:R``, ``cloudwatch:R``, ``replication:R`` (replication into R), ``probe_auth:R``
(R's probe login refused), ``link:A|B`` (the network between two regions: peering and
replication). Modes: ``down`` (refused / unavailable at once), ``timeout`` (no answer until
the client's timeout), ``errors`` (server errors), ``flapping`` (down for the first half of
every ``period``, up for the second), ``stale`` (CloudWatch: data not ingested;
replication: nothing applied).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from lambda_src.failover.budget import PATHS, PROD, Timing

KINDS = (
    "region",
    "writer",
    "cluster",
    "rds_api",
    "secrets",
    "lambda",
    "dynamodb",
    "cloudwatch",
    "replication",
    "probe_auth",
    "link",
)
MODES = ("down", "timeout", "errors", "flapping", "stale")
EXPECT = ("act", "no_act", "any")
DEFAULT_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
SCENARIO_DIR = Path(__file__).parent / "scenarios"


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file, the field and the value."""


@dataclass(frozen=True, kw_only=True)
class Fault:
    component: str
    start: float
    end: float | None = None
    mode: str = "down"
    period: float = 60.0

    @property
    def kind(self) -> str:
        return self.component.split(":", 1)[0]

    @property
    def target(self) -> str:
        return self.component.split(":", 1)[1]

    def state(self, t: float) -> str | None:
        """The fault's mode at ``t`` (flapping resolves to down or None)."""
        if t < self.start or (self.end is not None and t >= self.end):
            return None
        if self.mode == "flapping":
            return "down" if (t - self.start) % self.period < self.period / 2 else None
        return self.mode


@dataclass(frozen=True, kw_only=True)
class Operator:
    at: float
    target: str
    break_glass: bool = False


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    expect: str = "any"
    description: str = ""
    path: str = "full_region_outage"
    regions: tuple[str, ...] = DEFAULT_REGIONS
    duration: float = 1200.0
    timing: Timing = PROD
    lag_seconds: dict[str, float] = field(default_factory=dict)
    aurora_failover_seconds: float = 90.0
    cloudwatch_delay_seconds: float = 60.0
    fencing: bool = True
    armed: bool = True
    onset: float | None = None
    operator: Operator | None = None
    faults: tuple[Fault, ...] = ()
    seed: int = 0
    source: str = ""

    @property
    def must_act(self) -> bool:
        return self.expect == "act"

    @property
    def onset_time(self) -> float | None:
        if self.onset is not None:
            return self.onset
        return min((f.start for f in self.faults), default=None)


_TIMING_FIELDS = {f.name for f in fields(Timing)}


def parse_scenario(data: Any, *, source: str = "<scenario>") -> Scenario:
    def bad(name: str, rule: str, value: Any) -> ScenarioError:
        return ScenarioError(f"{source}: {name} must be {rule}; got {value!r}")

    if not isinstance(data, dict):
        raise bad("the document", "a mapping", type(data).__name__)
    known = {f.name for f in fields(Scenario)} - {"source", "seed"}
    unknown = sorted(set(data) - known - {"seed"})
    if unknown:
        raise bad("the keys", f"among {', '.join(sorted(known))}", unknown)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise bad("name", "a non-empty string", name)
    expect = data.get("expect", "any")
    if expect not in EXPECT:
        raise bad("expect", f"one of {', '.join(EXPECT)}", expect)
    path = data.get("path", "full_region_outage")
    if path not in PATHS:
        raise bad("path", f"one of {', '.join(PATHS)}", path)
    regions = tuple(data.get("regions", DEFAULT_REGIONS))
    if len(regions) < 2 or len(set(regions)) != len(regions):
        raise bad("regions", "a list of at least two distinct regions, home first", list(regions))
    overrides = data.get("timing", {}) or {}
    if not isinstance(overrides, dict) or set(overrides) - _TIMING_FIELDS:
        raise bad("timing", f"a mapping of {', '.join(sorted(_TIMING_FIELDS))}", overrides)
    timing = Timing(**{**PROD.as_dict(), "vantage_regions": len(regions) - 1, **overrides})
    faults = []
    for i, raw in enumerate(data.get("faults", []) or []):
        where = f"faults[{i}]"
        if not isinstance(raw, dict):
            raise bad(where, "a mapping", raw)
        component = raw.get("component", "")
        kind, _, target = str(component).partition(":")
        if kind not in KINDS or not target:
            raise bad(f"{where}.component", f"<kind>:<region> with kind one of {', '.join(KINDS)}", component)
        targets = target.split("|") if kind == "link" else [target]
        if kind == "link" and len(targets) != 2:
            raise bad(f"{where}.component", "link:<region>|<region>", component)
        if any(r not in regions for r in targets):
            raise bad(
                f"{where}.component", f"naming regions of the scenario ({', '.join(regions)})", component
            )
        mode = raw.get("mode", "down")
        if mode not in MODES:
            raise bad(f"{where}.mode", f"one of {', '.join(MODES)}", mode)
        start, end = raw.get("start", 0), raw.get("end")
        if not isinstance(start, int | float) or (
            end is not None and (not isinstance(end, int | float) or end <= start)
        ):
            raise bad(f"{where}.start/end", "numbers with end after start (end may be omitted)", (start, end))
        faults.append(
            Fault(
                component=str(component),
                start=float(start),
                end=None if end is None else float(end),
                mode=mode,
                period=float(raw.get("period", 60)),
            )
        )
    operator = None
    if data.get("operator") is not None:
        op = data["operator"]
        if (
            not isinstance(op, dict)
            or op.get("target") not in regions
            or not isinstance(op.get("at"), int | float)
        ):
            raise bad(
                "operator", "{at: <seconds>, target: <region of the scenario>, break_glass: <bool>}", op
            )
        operator = Operator(
            at=float(op["at"]), target=str(op["target"]), break_glass=bool(op.get("break_glass", False))
        )
    return Scenario(
        name=name,
        expect=expect,
        description=str(data.get("description", "")),
        path=path,
        regions=regions,
        duration=float(data.get("duration", 1200)),
        timing=timing,
        lag_seconds={str(k): float(v) for k, v in (data.get("lag_seconds") or {}).items()},
        aurora_failover_seconds=float(data.get("aurora_failover_seconds", 90)),
        cloudwatch_delay_seconds=float(data.get("cloudwatch_delay_seconds", 60)),
        fencing=bool(data.get("fencing", True)),
        armed=bool(data.get("armed", True)),
        onset=None if data.get("onset") is None else float(data["onset"]),
        operator=operator,
        faults=tuple(faults),
        seed=int(data.get("seed", 0)),
        source=source,
    )


def load_scenario_file(path: Path) -> Scenario:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return parse_scenario(data, source=str(path))


def load_scenarios(directory: Path = SCENARIO_DIR) -> list[Scenario]:
    """Every *.yaml, *.yml and *.json in ``directory``, by file name."""
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    scenarios = [load_scenario_file(p) for p in files]
    names = [s.name for s in scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ScenarioError(f"{directory}: scenario names must be unique; repeated: {', '.join(duplicates)}")
    return scenarios
