"""Run every failover scenario and seeded random fault schedules through the simulator.

Prints, per scenario, whether the automation acted, the RTO (onset to the writer name
answering with the new writer) against the computed budget, the RPO (writes lost) and any
invariant violation; then the random schedules' count and violations. Exit code 1 when
any invariant is violated.

    python benchmarks/failover_simulation.py                 # shipped scenarios + 10,000 random
    python benchmarks/failover_simulation.py --json          # one JSON document
    python benchmarks/failover_simulation.py --scenarios DIR --random 500 --seed 7
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.analysis.failover_sim import SCENARIO_DIR, load_scenarios, random_scenarios, simulate


def _random_chunk(args: tuple[int, int, int]) -> list[str]:
    seed, start, stop = args
    found: list[str] = []
    for scenario in random_scenarios(stop, seed=seed):
        if int(scenario.name.rsplit("-", 1)[1]) < start:
            continue
        found.extend(f"{scenario.name}: {v}" for v in simulate(scenario, skip_idle=True).violations)
    return found


def run_random(count: int, seed: int, workers: int) -> list[str]:
    if count <= 0:
        return []
    step = max(1, -(-count // (workers * 4)))
    chunks = [(seed, i, min(count, i + step)) for i in range(0, count, step)]
    if workers <= 1:
        return [v for chunk in chunks for v in _random_chunk(chunk)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [v for found in pool.map(_random_chunk, chunks) for v in found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--scenarios", action="append", type=Path, default=[], help="an extra folder of scenario files"
    )
    parser.add_argument("--random", type=int, default=10_000, help="random schedules to run (default 10000)")
    parser.add_argument("--seed", type=int, default=13, help="seed of the random schedules (default 13)")
    parser.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes for the random schedules"
    )
    args = parser.parse_args(argv)

    scenarios = load_scenarios(SCENARIO_DIR)
    for directory in args.scenarios:
        scenarios.extend(load_scenarios(directory))
    started = time.perf_counter()
    results = [simulate(s) for s in scenarios]
    scenario_seconds = time.perf_counter() - started
    started = time.perf_counter()
    random_violations = run_random(args.random, args.seed, args.workers)
    random_seconds = time.perf_counter() - started
    document = {
        "scenarios": [r.as_dict() for r in results],
        "random": {"runs": args.random, "violations": random_violations},
    }
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(f"{'scenario':40} {'expect':7} {'acted':5} {'RTO s':>7} {'budget':>7} {'RPO s':>7}  violations")
        for r in results:
            rto = "-" if r.rto_seconds is None else f"{r.rto_seconds:.0f}"
            rpo = "-" if r.rpo_seconds is None else f"{r.rpo_seconds:.1f}"
            print(
                f"{r.name:40} {r.expect:7} {'yes' if r.acted else 'no':5} {rto:>7} {r.budget_seconds:>7.0f} {rpo:>7}  {len(r.violations)}"
            )
            for v in r.violations:
                print(f"    {v}")
        print(f"{len(results)} scenarios in {scenario_seconds:.1f} s")
        print(
            f"random schedules: {args.random} (seed {args.seed}) in {random_seconds:.1f} s "
            f"({random_seconds / max(1, args.random) * 1000:.1f} ms each, {args.workers} workers), "
            f"{len(random_violations)} violations"
        )
        for v in random_violations[:20]:
            print(f"    {v}")
    violated = any(r.violations for r in results) or bool(random_violations)
    return 1 if violated else 0


if __name__ == "__main__":
    raise SystemExit(main())
