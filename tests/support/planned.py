"""Reading the functions of an offline plan (`infra plan` under Pulumi mocks): which stack runs
which handler, and what its role may do."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.analysis.document import Plan, PlannedStack
from orchestrator.analysis.mock_runtime import RecordedResource

FUNCTION = "aws:lambda/function:Function"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def regional(plan: Plan) -> list[PlannedStack]:
    return [s for s in plan.stacks if s.spec.regional]


def home(plan: Plan) -> PlannedStack:
    return next(s for s in regional(plan) if s.spec.region == plan.env.primary_region)


def functions(stack: PlannedStack, handler: str) -> list[RecordedResource]:
    return [r for r in stack.run.resources if r.type == FUNCTION and r.inputs.get("handler") == handler]


def one_function(stack: PlannedStack, handler: str) -> RecordedResource:
    found = functions(stack, handler)
    assert len(found) == 1, f"{stack.spec.name}: {len(found)} functions with handler {handler}"
    return found[0]


def role_statements(stack: PlannedStack, function: RecordedResource) -> list[dict[str, Any]]:
    role = str(function.inputs["role"])
    statements: list[dict[str, Any]] = []
    for policy in (r for r in stack.run.resources if r.type == ROLE_POLICY):
        if role.endswith(f"/{policy.inputs['role']}"):
            statements += json.loads(policy.inputs["policy"])["Statement"]
    assert statements, f"{stack.spec.name}: no policy attached to {role}"
    return statements


def statement(statements: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    found = [s for s in statements if s.get("Sid") == sid]
    assert len(found) == 1, f"{sid}: {found}"
    return found[0]


def arn_of(stack: PlannedStack, function: RecordedResource, account_id: str) -> str:
    return f"arn:aws:lambda:{stack.spec.region}:{account_id}:function:{function.inputs['name']}"
