"""Makespan of `infra up`: one and three secondaries, several environments at once.

Runs the real orchestration engine (``orchestrator.deploy.engine.Orchestrator``) over the
``InProcessRunner``: every stack program really runs under Pulumi mocks, and the time AWS
would take is simulated by the runner's per-stack ``durations`` (a sleep after the program).
Simulated minutes are scaled to real seconds (``--seconds-per-minute``, 0.15 by default) so
the whole script runs in about 30 s.

Compared against:
* the ideal critical path: primary + max(secondary) + dns (what perfect parallelism gives);
* running every stack one after the other: the sum of all stack durations.

The mock programs cost real CPU (up to ~0.9 s per stack) and the Pulumi mock runtime is
process-global, so programs run one at a time (a lock) while simulated AWS time overlaps.
That cost is an artefact of the in-process runner (real deployments run each program in its
own ``pulumi`` process and wait on AWS), so it is measured and reported separately: for each
stack, program time = the stack's measured time - its simulated duration; the program time on
the realised critical path is subtracted to give "excl. programs".

Run from the project root: ``python benchmarks/orchestration_makespan.py [--measure-sequential]``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.environment import ENVIRONMENTS_DIR, Environment, parse_environment
from model.topology import Role, stacks_for, waves
from orchestrator.deploy.engine import Orchestrator, RunReport
from orchestrator.deploy.runner import InProcessRunner

# --- Simulated AWS durations (minutes) ----------------------------------------------------------
# AWS publishes no SLA for create times; these are the figures used, with where they come from.
# Within a stack Pulumi creates independent resources in parallel, so a stack takes as long as
# its longest dependency chain.
NETWORK_MINUTES = 2.0
"""VPC, subnets, route tables, security groups (seconds each) and interface VPC endpoints, which
stay `pending` until available. ASSUMPTION: ~2 min; no AWS figure found."""
CLUSTER_AND_INSTANCE_MINUTES = 15.0
"""Aurora cluster, then its instances (created in parallel with each other). AWS's agent toolkit
(aws/agent-toolkit-for-aws, skill creating-amazon-aurora-db-cluster-with-instances): "Aurora cluster
and instance creation can take 10-20 minutes". Midpoint taken."""
SECONDARY_ATTACH_MINUTES = 5.0
"""Extra time for a secondary cluster to join the global database (storage-level replication
set-up before the cluster is available). ASSUMPTION: the Aurora User Guide gives no figure."""
DNS_MINUTES = 2.0
"""Private hosted zone, health checks and failover records; Pulumi waits for each change to be
INSYNC. Route 53 Developer Guide: "Changes generally propagate to all Route 53 name servers within
60 seconds" (zone, then records: ~2 x 60 s)."""
FAILOVER_MINUTES = 2.0
"""Failover stack (global environments): peering connections and their acceptance, routes,
security group rules and one DynamoDB table per region, in parallel. ASSUMPTION: no AWS figure;
each is a single API call that settles in seconds to a minute."""

SIMULATED_MINUTES: dict[str, float] = {
    Role.PRIMARY.value: NETWORK_MINUTES + CLUSTER_AND_INSTANCE_MINUTES,
    Role.SECONDARY.value: NETWORK_MINUTES + CLUSTER_AND_INSTANCE_MINUTES + SECONDARY_ATTACH_MINUTES,
    Role.DNS.value: DNS_MINUTES,
    Role.FAILOVER.value: FAILOVER_MINUTES,
}

# Aurora MySQL global database regions; each benchmark environment takes its secondaries from here.
SECONDARY_REGIONS = ("us-west-2", "eu-west-1", "ap-southeast-2", "eu-central-1", "ap-northeast-1")


def build_environment(name: str, secondaries: int, index: int) -> Environment:
    """prod.yaml with ``secondaries`` secondary regions and CIDRs of its own (10.<100+8*index+k>/16)."""
    data: dict[str, Any] = yaml.safe_load((ENVIRONMENTS_DIR / "prod.yaml").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["name"] = name
    data["secondary_regions"] = list(SECONDARY_REGIONS[:secondaries])
    regions = [data["primary_region"], *data["secondary_regions"]]
    data["network"]["cidrs"] = {
        region: f"10.{100 + 8 * index + k}.0.0/16" for k, region in enumerate(regions)
    }
    data.pop("state", None)  # a local backend is irrelevant in-process
    return parse_environment(data, path=f"<benchmark {name}>")


def new_runner(env: Environment, seconds_per_minute: float) -> InProcessRunner:
    durations = {role: minutes * seconds_per_minute for role, minutes in SIMULATED_MINUTES.items()}
    runner = InProcessRunner(account_id=env.account_id, durations=durations)
    return runner


@dataclass
class EnvTiming:
    """One environment's run, in real seconds."""

    env: Environment
    report: RunReport
    finished_at: float  # since the scenario's start
    path_seconds: float  # realised critical path: sum over waves of the slowest stack
    path_program_seconds: float  # program time (incl. waiting for the program lock) on that path
    program_seconds: float  # program time of every stack


def timing_of(
    env: Environment, report: RunReport, finished_at: float, seconds_per_minute: float
) -> EnvTiming:
    if not report.ok:
        raise SystemExit(f"benchmark run of {env.name} failed: {report.failure}")
    seconds = {r.stack: r.seconds for r in report.results}
    simulated = {s.name: SIMULATED_MINUTES[s.role.value] * seconds_per_minute for s in stacks_for(env)}
    path = path_programs = 0.0
    for wave in waves(stacks_for(env)):
        slowest = max(wave, key=lambda s: seconds[s.name])
        path += seconds[slowest.name]
        path_programs += seconds[slowest.name] - simulated[slowest.name]
    programs = sum(seconds[name] - simulated[name] for name in seconds)
    return EnvTiming(env, report, finished_at, path, path_programs, programs)


def run_scenario(
    envs: list[Environment], seconds_per_minute: float, *, max_parallel: int = 8
) -> list[EnvTiming]:
    """Deploy every environment from scratch at once (one thread, runner and orchestrator each)."""
    timings: list[EnvTiming] = []
    lock = threading.Lock()
    start = threading.Barrier(len(envs) + 1)
    t0 = 0.0

    def deploy(env: Environment) -> None:
        orchestrator = Orchestrator(env, new_runner(env, seconds_per_minute), max_parallel=max_parallel)
        start.wait()
        report = orchestrator.up()
        finished = time.monotonic() - t0
        with lock:
            timings.append(timing_of(env, report, finished, seconds_per_minute))

    threads = [threading.Thread(target=deploy, args=(env,), name=env.name) for env in envs]
    for thread in threads:
        thread.start()
    t0 = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join()
    if len(timings) != len(envs):
        raise SystemExit("a benchmark thread died; see the traceback above")
    return timings


@dataclass
class Row:
    scenario: str
    stacks: int
    sequential_min: float  # every stack one after the other
    ideal_min: float  # critical path per environment (environments are independent)
    makespan_min: float  # measured, raw
    programs_min: float  # mock program time on the realised critical path
    excl_programs_min: float  # measured minus that

    @property
    def raw_vs_ideal(self) -> float:
        return self.makespan_min / self.ideal_min

    @property
    def vs_ideal(self) -> float:
        return self.excl_programs_min / self.ideal_min

    @property
    def speedup(self) -> float:
        return self.sequential_min / self.excl_programs_min


def ideal_minutes(env: Environment) -> float:
    secondary = SIMULATED_MINUTES[Role.SECONDARY.value] if env.secondary_regions else 0.0
    last = SIMULATED_MINUTES[Role.DNS.value]
    if env.is_global:  # the failover stack deploys beside DNS, in the last wave
        last = max(last, SIMULATED_MINUTES[Role.FAILOVER.value])
    return SIMULATED_MINUTES[Role.PRIMARY.value] + secondary + last


def sequential_minutes(env: Environment) -> float:
    return sum(SIMULATED_MINUTES[s.role.value] for s in stacks_for(env))


def row_for(scenario: str, timings: list[EnvTiming], spm: float, *, serial: bool = False) -> Row:
    makespan = max(t.finished_at for t in timings)
    # Per environment: its finish time minus the program time on its own critical path (all of
    # its program time when the stacks ran one after the other).
    excl = max(t.finished_at - (t.program_seconds if serial else t.path_program_seconds) for t in timings)
    slowest = max(timings, key=lambda t: t.finished_at)
    return Row(
        scenario=scenario,
        stacks=sum(len(t.report.results) for t in timings),
        sequential_min=sum(sequential_minutes(t.env) for t in timings),
        ideal_min=max(ideal_minutes(t.env) for t in timings),
        makespan_min=makespan / spm,
        programs_min=(slowest.program_seconds if serial else slowest.path_program_seconds) / spm,
        excl_programs_min=excl / spm,
    )


def render(rows: list[Row], *, markdown: bool) -> str:
    head = [
        "scenario",
        "stacks",
        "sequential Σ (min)",
        "ideal path (min)",
        "measured (min)",
        "raw vs ideal",
        "mock programs on path (min)",
        "measured excl. programs (min)",
        "vs ideal",
        "speed-up vs Σ",
    ]
    body = [
        [
            r.scenario,
            str(r.stacks),
            f"{r.sequential_min:.1f}",
            f"{r.ideal_min:.1f}",
            f"{r.makespan_min:.1f}",
            f"{r.raw_vs_ideal:.2f}x",
            f"{r.programs_min:.1f}",
            f"{r.excl_programs_min:.1f}",
            f"{r.vs_ideal:.2f}x",
            f"{r.speedup:.2f}x",
        ]
        for r in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(
        [fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*b) for b in body)]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds-per-minute", type=float, default=0.15, help="real seconds per simulated minute"
    )
    parser.add_argument(
        "--parallel-envs", type=int, default=4, help="environments deployed at once (2 secondaries)"
    )
    parser.add_argument(
        "--measure-sequential",
        action="store_true",
        help="also run the three-secondary environment with one stack at a time (adds ~15 s)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    spm = args.seconds_per_minute
    started = time.monotonic()

    print("Simulated create times (minutes):")
    for role, minutes in SIMULATED_MINUTES.items():
        print(f"  {role:10s} {minutes:5.1f}")
    print(f"Time scale: 1 simulated minute = {spm} s. Programs run for real under Pulumi mocks.\n")

    # Warm-up: the first program run imports the provider SDK's modules (seconds of real time).
    run_scenario([build_environment("bench-warmup", 1, 15)], 0.0)

    rows: list[Row] = []
    one = build_environment("bench-one", 1, 0)
    rows.append(row_for("1 secondary", run_scenario([one], spm), spm))
    three = build_environment("bench-three", 3, 1)
    rows.append(row_for("3 secondaries", run_scenario([three], spm), spm))
    many = [build_environment(f"bench-env{i}", 2, 2 + i) for i in range(args.parallel_envs)]
    rows.append(row_for(f"{args.parallel_envs} envs x 2 secondaries at once", run_scenario(many, spm), spm))
    if args.measure_sequential:
        serial = build_environment("bench-serial", 3, 2 + args.parallel_envs)
        rows.append(
            row_for(
                "3 secondaries, one stack at a time",
                run_scenario([serial], spm, max_parallel=1),
                spm,
                serial=True,
            )
        )

    print(render(rows, markdown=args.markdown))
    one_by_one = sum(ideal_minutes(env) for env in many)
    print(
        f"\nraw vs ideal: measured / ideal path (includes the mock programs' CPU time).\n"
        f"vs ideal: measured excl. programs / ideal path (1.00x = no time lost to orchestration).\n"
        f"speed-up vs Σ: sequential sum / measured excl. programs.\n"
        f"{args.parallel_envs} environments deployed one after another (each in parallel inside) would take "
        f"{one_by_one:.1f} min.\n"
        f"Total real time: {time.monotonic() - started:.1f} s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
