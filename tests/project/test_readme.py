"""The README stays true: its first commands, field reference and command table."""

from __future__ import annotations

import re

import typer.main
from pydantic import BaseModel

from model.environment import Environment
from orchestrator.cli import app
from tests.support.paths import ROOT

README = (ROOT / "README.md").read_text()


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    names: list[str] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.extend(_fields(annotation, f"{prefix}{name}."))
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_environment_field_is_in_the_readme_reference() -> None:
    missing = [f for f in _fields(Environment) if f"`{f}`" not in README]
    assert missing == [], f"README field reference lacks {missing}"


def test_the_first_two_commands_are_make_plan_and_make_test_and_exist() -> None:
    block = README.split("## The first two commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make plan", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^plan:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "ENV ?= prod" in makefile  # `make plan` is the offline plan of prod


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "mariadb-server" in ci


def _cli_commands() -> set[str]:
    root = typer.main.get_command(app)
    names: set[str] = set()
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            names.update(f"{name} {sub}" for sub in subcommands)
            if getattr(command, "invoke_without_command", False):
                names.add(name)  # a group that runs on its own too (`infra failover --to`)
        else:
            names.add(name)
    return names


def test_every_cli_command_is_documented_and_every_documented_command_exists() -> None:
    table = README.split("## Commands", 1)[1].split("Exit codes", 1)[0]
    documented = {m.group(1).strip() for m in re.finditer(r"`infra ([a-z ]+?)(?: \[| --|`)", table)}
    assert _cli_commands() - documented == set(), "commands missing from the README table"
    assert documented - _cli_commands() == set(), "README documents commands that don't exist"


def test_ci_builds_the_real_engine_before_running_the_tests() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "make engine" in lines and "make test" in lines
    assert lines.index("make engine") < lines.index("make test")
    makefile = (ROOT / "Makefile").read_text()
    assert "\nengine:\n\ttools/engine/build.sh\n" in makefile
