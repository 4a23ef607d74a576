"""Failover simulator (issue 13): the real decider, lock and probe classification against a
modelled world, over scenario files and seeded random fault schedules.

``scenario`` is the file format, ``world`` the model and its fakes, ``simulate`` the event
loop and the invariants, ``randomized`` the seeded schedule generator. Entry points:
``run_all`` here and ``benchmarks/failover_simulation.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.analysis.failover_sim.randomized import random_scenarios
from orchestrator.analysis.failover_sim.scenario import SCENARIO_DIR, Scenario, load_scenarios, parse_scenario
from orchestrator.analysis.failover_sim.simulate import RunResult, simulate

__all__ = [
    "SCENARIO_DIR",
    "RunResult",
    "Scenario",
    "load_scenarios",
    "parse_scenario",
    "random_scenarios",
    "run_all",
    "simulate",
]


def run_all(
    *, extra_dirs: list[Path] | None = None, random_runs: int = 10_000, seed: int = 13
) -> dict[str, Any]:
    """The document ``benchmarks/failover_simulation.py --json`` prints."""
    scenarios = load_scenarios(SCENARIO_DIR)
    for directory in extra_dirs or []:
        scenarios.extend(load_scenarios(directory))
    results = [simulate(s) for s in scenarios]
    random_violations: list[str] = []
    for scenario in random_scenarios(random_runs, seed=seed):
        result = simulate(scenario, skip_idle=True)
        random_violations.extend(f"{scenario.name}: {v}" for v in result.violations)
    return {
        "scenarios": [r.as_dict() for r in results],
        "random": {"runs": random_runs, "seed": seed, "violations": random_violations},
    }
