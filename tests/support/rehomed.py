"""A checked-in environment as `infra rehome` leaves it: its file rewritten for a new home."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

from model.environment import ENVIRONMENTS_DIR, Environment, load_environment_file
from orchestrator.analysis.document import Plan
from orchestrator.analysis.plan import build_plan


def rehomed(name: str, *homes: str) -> Environment:
    """``name``'s environment after `infra rehome --to` each of ``homes`` in turn."""
    from orchestrator.deploy.rehome import rewrite_home

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"{name}.yaml"
        path.write_text((ENVIRONMENTS_DIR / f"{name}.yaml").read_text())
        env = load_environment_file(path, check_organisation=False)
        for home in homes:
            text, _ = rewrite_home(path.read_text(), path, env, home)
            path.write_text(text)
            env = load_environment_file(path, check_organisation=False)
        return env


@lru_cache(maxsize=4)
def rehomed_plan(name: str, *homes: str) -> Plan:
    """The offline plan (rules evaluated) of ``rehomed(name, *homes)``, built once per process."""
    return build_plan(rehomed(name, *homes))
