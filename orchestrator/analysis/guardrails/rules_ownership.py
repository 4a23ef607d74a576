"""Guardrail rules: ownership is the home region, the writer is runtime state (DESIGN.md 4b)."""

from __future__ import annotations

from collections.abc import Iterator

from model import naming
from orchestrator.analysis.guardrails.core import Graph, Hit, rule


@rule(
    "programs-writer-agnostic",
    "error",
    "no stack program reads where the writer is: after any failover the code has nothing to change",
    "FC-P-1; DESIGN.md section 4b (Ownership and the writer)",
)
def _writer_agnostic(graph: Graph) -> Iterator[Hit]:
    for stack, lookups in sorted(graph.writer_lookups.items()):
        yield (
            None,
            f"stack {stack} looks up the writer ({', '.join(sorted(set(lookups)))}): its resources would "
            "change when the writer moves. Fix: find the writer at run time (Lambda, CLI), never in a program",
        )


@rule(
    "automated-failover-deployed",
    "warning",
    "an environment that asks for automated failover gets it deployed: a decider in every region "
    "(the failover stack, components/failover.py)",
    "FC-P-2, FC-P-3; DESIGN.md section 4 (Automated failover)",
    cross_stack=True,
)
def _automated_failover(graph: Graph) -> Iterator[Hit]:
    env = graph.env
    if not env.failover.automated:
        return
    deployed = {
        str(n.inputs.get("name", ""))
        for n in graph.of_type("aws:lambda/function:Function")
        if str(n.inputs.get("handler", "")).startswith("lambda_src.failover.")
    }
    missing = [
        r for r in env.regions if naming.function_name(env.name, r, naming.FAILOVER_DECIDER) not in deployed
    ]
    if missing:
        yield (
            None,
            f"failover.automated is true for {env.name}, but no automated failover is deployed in "
            f"{', '.join(missing)}: fail over with `infra failover --to REGION --unplanned --allow-data-loss` "
            "after checking the writer's region is gone (README, 'Health, DNS and failover')",
        )


@rule(
    "failover-timing",
    "error",
    "automated failover's window, intervals and RPO budget can meet the quorum, the budget's floor and the "
    "RTO goal (600 s for a full regional outage)",
    "issue 13 (Bad input); lambda_src/failover/budget.py, the model the failover simulator checks",
    cross_stack=True,
)
def _failover_timing(graph: Graph) -> Iterator[Hit]:
    env = graph.env
    if not env.failover.automated or not env.is_global:
        return
    from lambda_src.failover import budget
    from orchestrator.analysis.rto import failover_timing

    for finding in budget.check_timing(failover_timing(env), goal_seconds=budget.GOAL_SECONDS):
        if finding.severity == "error":
            yield None, f"{finding.field}: {finding.message}"
