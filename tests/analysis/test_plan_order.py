"""The plan document is deterministic (issue 10 §6): the same inputs give the same bytes, in
separate processes, with resources in the documented tree order."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orchestrator.analysis.mock_runtime import RecordedResource, program_order
from tests.support.graphs import planned
from tests.support.paths import ROOT


def resource(urn: str, parent: str | None = None, typ: str = "aws:s3/bucket:Bucket") -> RecordedResource:
    return RecordedResource(urn=urn, type=typ, name=urn, parent=parent, provider=None, inputs={}, custom=True)


def test_program_order_is_the_same_whatever_the_registration_order() -> None:
    resources = [
        resource("urn:c"),
        resource("urn:a"),
        resource("urn:a/x", parent="urn:a"),
        resource("urn:a/x/1", parent="urn:a/x"),
        resource("urn:b/y", parent="urn:b"),
        resource("urn:b", typ="aurora:component:Thing"),
        resource("urn:z", typ="pulumi:providers:aws"),
    ]
    orders = set()
    for seed in range(20):
        shuffled = resources[:]
        random.Random(seed).shuffle(shuffled)
        orders.add(tuple(r.urn for r in program_order(shuffled)))
    # providers first, then a depth-first walk with siblings by URN
    assert orders == {("urn:z", "urn:a", "urn:a/x", "urn:a/x/1", "urn:b", "urn:b/y", "urn:c")}


def test_every_planned_resource_comes_after_its_parent() -> None:
    for stack in planned("prod").stacks:
        seen: set[str] = set()
        urns = {r.urn for r in stack.run.resources}
        for r in stack.run.resources:
            assert r.parent is None or r.parent not in urns or r.parent in seen, r.urn
            seen.add(r.urn)


def _plan_json(seed: str) -> bytes:
    infra = Path(sys.executable).parent / "infra"
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [str(infra), "plan", "--env", "prod", "--json"], cwd=ROOT, env=env, capture_output=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr.decode()
    return done.stdout


def test_two_processes_print_byte_identical_plan_documents() -> None:
    # Different hash seeds too: set or dict iteration that depends on hashing would show.
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(_plan_json, ["1", "2"])
    assert first and first == second
