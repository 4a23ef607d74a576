"""First deployment races (issue 10 §7), on the real offline plan: no rotation starts before
bootstrap has finished, and no function needs reserved concurrency."""

from __future__ import annotations

import pytest

from tests.support.graphs import planned

ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
INVOCATION = "aws:lambda/invocation:Invocation"
FUNCTION = "aws:lambda/function:Function"


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_every_rotation_schedule_waits_for_bootstrap_and_does_not_rotate_at_creation(env_name: str) -> None:
    plan = planned(env_name)
    rotations = [r for s in plan.stacks for r in s.run.resources if r.type == ROTATION]
    bootstraps = {r.urn for s in plan.stacks for r in s.run.resources if r.type == INVOCATION}
    assert len(bootstraps) == 1  # the writer's stack invokes bootstrap once
    # master secret + the three application users' secrets (+ the probe user's when automated)
    assert len(rotations) == 4 + plan.env.failover.automated
    for rotation in rotations:
        assert rotation.inputs.get("rotateImmediately") is False, rotation.name
        assert bootstraps <= set(rotation.dependencies), f"{rotation.name} does not wait for bootstrap"


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod", "test"])
def test_no_function_reserves_concurrency(env_name: str) -> None:
    # AWS refuses reserved concurrency while fewer than 100 units would stay unreserved: low-quota
    # accounts could not deploy. Single flight comes from the failover lease and GET_LOCK instead.
    functions = [r for s in planned(env_name).stacks for r in s.run.resources if r.type == FUNCTION]
    assert functions
    assert [f.name for f in functions if f.inputs.get("reservedConcurrentExecutions") is not None] == []
