"""The offline plan: every stack's real program, in order, under mocks, outputs fed forward.

``build_plan`` is what `infra plan` runs; the document it yields is in
:mod:`orchestrator.analysis.document`.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from components.stack_programs import program_from_config
from model import naming
from model.environment import Environment, needs_embedded_definition
from model.topology import stack_config, stacks_for
from orchestrator.analysis import engine_support, guardrails, rto
from orchestrator.analysis.document import Plan, PlannedStack
from orchestrator.analysis.mock_runtime import WriterAssumption, run_program

ProgramFactory = Callable[[], Mapping[str, Any]]


class WriterRegionError(ValueError):
    """``--writer`` names a region the environment does not have."""


def writer_assumption(env: Environment, region: str) -> WriterAssumption:
    if region not in env.regions:
        raise WriterRegionError(
            f"--writer {region!r}: the writer can only be in a region of environment {env.name} "
            f"({', '.join(env.regions)}). Fix: name one of those."
        )
    members = tuple(
        (r, f"arn:aws:rds:{r}:{env.account_id}:cluster:{naming.cluster_id(env.name, r)}") for r in env.regions
    )
    return WriterAssumption(
        region=region, global_cluster_id=naming.global_cluster_id(env.name), members=members
    )


def build_plan(
    env: Environment,
    *,
    program: ProgramFactory = program_from_config,
    evaluate_rules: bool = True,
    writer_region: str | None = None,
    today: datetime.date | None = None,
    minted_in: Mapping[tuple[str, str], str] | None = None,
) -> Plan:
    """Run every stack of ``env`` in deployment order under mocks, feeding outputs forward.

    ``writer_region`` plans as if the writer were there (``infra plan --writer``): lookups that
    reveal the writer answer so, and the document records the assumption. Programs are
    writer-agnostic, so nothing else may change. ``today`` is the date engine support is judged
    on (default: the current UTC date): the plan of the same files is the same on the same day.
    ``minted_in`` (type, name) -> stack: resources that keep the mock ids and ARNs they got in
    that stack (what `infra rehome` moves between states keeps its identity).
    """
    writer = writer_assumption(env, writer_region) if writer_region is not None else None
    embed = needs_embedded_definition(env)
    upstream: dict[str, dict[str, Any]] = {}
    shown_upstream: dict[str, dict[str, Any]] = {}  # secret outputs masked, for display
    planned: list[PlannedStack] = []
    for spec in stacks_for(env):
        config = stack_config(env, spec, upstream, embed_definition=embed)
        run = run_program(
            stack=spec.name,
            account_id=env.account_id,
            config=config,
            program=program,
            writer=writer,
            minted_in=minted_in,
        )
        upstream[spec.name] = run.raw_outputs
        shown_upstream[spec.name] = run.outputs
        shown_config = stack_config(env, spec, shown_upstream, embed_definition=embed)
        planned.append(PlannedStack(spec=spec, account_id=env.account_id, config=shown_config, run=run))
    plan = Plan(env=env, stacks=planned)
    if writer is not None:
        plan.extras["writer_assumption"] = {
            "region": writer.region,
            "note": "planned as if the writer were in this region; a writer-agnostic plan is identical to the plain one",
        }
    if evaluate_rules:
        plan.today = today or engine_support.utc_today()
        plan.extras["engine_support"] = engine_support.engine_support(env, plan.today).to_json()
        plan.findings = guardrails.evaluate(plan)
        plan.extras["rto_budget"] = rto.rto_budget(env).to_json()
    return plan
