"""The GitHub Actions workflows shipped in .github/workflows/.

GIVEN the checked-in workflow files
THEN they validate against the GitHub workflow schema (check-jsonschema's vendored copy, offline),
every job has a timeout and declares least-privilege permissions, every action is pinned to a
version, the jobs that get cloud credentials are guarded (no forks, only where the OIDC role is
configured), the ephemeral environment is always torn down, and every `infra` invocation names
commands and options the CLI really has (a renamed flag breaks this test).
The shell and inline Python of the plan and preview steps are executed against stand-ins.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from model import aws_rules
from model.environment import (
    ENVIRONMENTS_DIR,
    PROJECT_ROOT,
    checked_in_environment_names,
    load_environment,
)
from orchestrator.cli import app

WORKFLOWS_DIR = PROJECT_ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS_DIR.glob("*.yml"))
PULL_REQUEST = "pull-request.yml"
EPHEMERAL = "ephemeral.yml"

# `infra` commands the workflows use that the CLI does not have yet. Each invocation of one is an
# expected failure (strict): once the command exists the test XPASSes and fails, so remove the
# command from this set. The final state must be empty.
PENDING_COMMANDS: set[tuple[str, ...]] = set()

CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
COMMENT_ACTIONS = ("actions/github-script", "marocchino/sticky-pull-request-comment")
CHECKOUT_ACTION = "actions/checkout"
FORK_GUARD = "github.event.pull_request.head.repo.full_name == github.repository"


# --- Loading -------------------------------------------------------------------------------------


def load(name: str | Path) -> dict[str, Any]:
    path = name if isinstance(name, Path) else WORKFLOWS_DIR / name
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path} is not a mapping"
    return doc


def triggers(doc: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
    on = doc.get("on", doc.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict)
    return on


def action_name(uses: str) -> str:
    return uses.split("@", 1)[0]


def called_workflow(job: dict[str, Any]) -> dict[str, Any] | None:
    uses = job.get("uses")
    if isinstance(uses, str) and uses.startswith("./.github/workflows/"):
        return load(PROJECT_ROOT / uses[2:])
    return None


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's steps, or those of every job of the reusable workflow it calls."""
    called = called_workflow(job)
    if called is not None:
        return [step for inner in called["jobs"].values() for step in steps_of(inner)]
    return list(job.get("steps") or [])


def uses_action(job: dict[str, Any], names: tuple[str, ...] | str) -> bool:
    wanted = (names,) if isinstance(names, str) else names
    return any(action_name(step.get("uses", "")) in wanted for step in steps_of(job))


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(workflow file name, job id, job) of every job of every workflow."""
    for path in WORKFLOW_FILES:
        for job_id, job in load(path)["jobs"].items():
            yield path.name, job_id, job


def condition(obj: dict[str, Any]) -> str:
    return " ".join(str(obj.get("if", "")).split())


# --- Shell parsing of `infra` invocations ----------------------------------------------------------

_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
_HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?[^\n]*\n.*?\n\s*\1\s*(\n|$)", re.S)
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;", "|&"}
_LEADING_WORDS = {"if", "then", "do", "else", "elif", "while", "until", "!", "time", "exec", "command", "{"}


def shell_commands(script: str) -> Iterator[list[str]]:
    """Simple commands of a `run:` script (heredoc bodies and redirections dropped)."""
    text = _EXPRESSION.sub("GHA_EXPR", script)
    text = _HEREDOC.sub("\n", text)
    text = text.replace("\\\n", " ")
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError as exc:
            assert "infra" not in line, f"cannot parse the shell line {line!r}: {exc}"
            continue
        current: list[str] = []
        skip_target = False
        for token in tokens:
            if skip_target:
                skip_target = False
                continue
            if token in _SEPARATORS:
                yield current
                current = []
            elif set(token) <= set("<>&|"):  # a redirection: drop it, its target and its fd
                if current and current[-1].isdigit():
                    current.pop()
                skip_target = True
            else:
                current.append(token)
        yield current


def infra_argv(command: list[str]) -> list[str] | None:
    words = list(command)
    while words and (words[0] in _LEADING_WORDS or _ASSIGNMENT.match(words[0])):
        words.pop(0)
    if words and (words[0] == "infra" or words[0].endswith("/infra")):
        return words[1:]
    return None


@dataclass(frozen=True)
class Invocation:
    workflow: str
    job: str
    step: str
    argv: tuple[str, ...]

    @property
    def command_path(self) -> tuple[str, ...]:
        """The (sub)command words: `ephemeral up`, `plan`; a word the CLI lacks ends the path."""
        command: Any = typer.main.get_command(app)
        path: list[str] = []
        for word in self.argv:
            if not hasattr(command, "commands"):
                break
            path.append(word)
            command = command.commands.get(word)
        return tuple(path)

    def __str__(self) -> str:
        return f"{self.workflow} / {self.job} / {self.step}: infra {' '.join(self.argv)}"


def invocations() -> list[Invocation]:
    found: list[Invocation] = []
    for workflow, job_id, job in all_jobs():
        for index, step in enumerate(job.get("steps") or []):
            for command in shell_commands(str(step.get("run", ""))):
                argv = infra_argv(command)
                if argv is not None:
                    found.append(Invocation(workflow, job_id, step.get("name", f"step {index}"), tuple(argv)))
    return found


def cli_problem(argv: list[str] | tuple[str, ...]) -> str | None:
    """Why `infra <argv>` would be rejected by the CLI's parser, or None."""
    command: Any = typer.main.get_command(app)
    path = ["infra"]
    rest = list(argv)
    while hasattr(command, "commands"):
        if not rest or rest[0].startswith("-"):
            return f"`{' '.join(path)}` needs a subcommand (one of {sorted(command.commands)})"
        name = rest.pop(0)
        if name not in command.commands:
            return f"`{' '.join(path)}` has no command {name!r} (it has {sorted(command.commands)})"
        command = command.commands[name]
        path.append(name)
    try:
        command.make_context(" ".join(path), list(rest))  # click consumes the list it parses
    except Exception as exc:  # click's UsageError family: unknown option, missing value, bad choice
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return f"`{' '.join(path)} {' '.join(rest)}`: {message}"
    return None


INVOCATIONS = invocations()


def _invocation_params() -> list[Any]:
    params = []
    for inv in INVOCATIONS:
        marks = []
        if any(inv.command_path[: len(p)] == p for p in PENDING_COMMANDS):
            marks.append(
                pytest.mark.xfail(
                    strict=True, reason=f"PENDING: `infra {' '.join(inv.command_path)}` is not in the CLI yet"
                )
            )
        params.append(
            pytest.param(inv, marks=marks, id=f"{inv.workflow}:{inv.job}:{' '.join(inv.command_path)}")
        )
    return params


# --- Schema ---------------------------------------------------------------------------------------


def _check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    try:
        import check_jsonschema  # noqa: F401
    except ImportError:
        reason = "check-jsonschema is not installed (pip install -e '.[dev]')"
        if os.environ.get("CI"):
            pytest.fail(f"CI must schema-check the workflows: {reason}")
        pytest.skip(reason)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {PULL_REQUEST, EPHEMERAL, "preview-environment.yml"}


def test_every_workflow_validates_against_the_github_workflow_schema() -> None:
    result = _check_jsonschema(*WORKFLOW_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_misspelled_job_key(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        textwrap.dedent(
            """\
            on: [push]
            jobs:
              build:
                runs-on: ubuntu-latest
                timeout-minute: 5
                steps:
                  - run: echo hi
            """
        )
    )
    result = _check_jsonschema(broken)
    assert result.returncode != 0
    assert "timeout-minute" in result.stdout


JOB_IDS = [f"{workflow}:{job_id}" for workflow, job_id, _ in all_jobs()]


# --- Structure --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("workflow", "job_id", "job"), list(all_jobs()), ids=JOB_IDS)
def test_every_job_has_a_timeout_or_calls_a_workflow_whose_jobs_do(
    workflow: str, job_id: str, job: dict[str, Any]
) -> None:
    if "uses" in job:
        called = called_workflow(job)
        assert called is not None, (
            f"{workflow}/{job_id} calls {job['uses']}, not a workflow of this repository"
        )
        assert all("timeout-minutes" in inner for inner in called["jobs"].values())
    else:
        assert isinstance(job.get("timeout-minutes"), int), f"{workflow}/{job_id} has no timeout-minutes"


_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def test_every_action_is_pinned_to_a_version() -> None:
    uses = [step["uses"] for _, _, job in all_jobs() for step in job.get("steps") or [] if "uses" in step]
    assert len(uses) >= 10
    unpinned = [u for u in uses if not _PINNED.match(u)]
    assert unpinned == [], f"pin these to a release tag (vN) or a commit SHA: {unpinned}"


def test_no_workflow_grants_permissions_by_default() -> None:
    for path in WORKFLOW_FILES:
        assert load(path).get("permissions") == {}, f"{path.name}: set top-level `permissions: {{}}`"


@pytest.mark.parametrize(("workflow", "job_id", "job"), list(all_jobs()), ids=JOB_IDS)
def test_every_job_declares_least_privilege_permissions(
    workflow: str, job_id: str, job: dict[str, Any]
) -> None:
    where = f"{workflow}/{job_id}"
    permissions = job.get("permissions")
    assert isinstance(permissions, dict), f"{where}: declare `permissions:` as a mapping"
    assert set(permissions.values()) <= {"read", "write", "none"}
    needed_for_write = {
        "id-token": uses_action(job, CREDENTIALS_ACTION),  # OIDC token for AWS
        "pull-requests": uses_action(job, COMMENT_ACTIONS),  # posting the result
    }
    for scope, level in permissions.items():
        if level == "write":
            assert needed_for_write.get(scope), f"{where}: `{scope}: write` is not needed by any step"
    for scope, needed in needed_for_write.items():
        if needed:
            assert permissions.get(scope) == "write", f"{where}: a step needs `{scope}: write`"
    if permissions.get("contents") == "read":
        assert uses_action(job, CHECKOUT_ACTION), f"{where}: `contents: read` without a checkout"
    called = called_workflow(job)
    if called is not None:
        for inner_id, inner in called["jobs"].items():
            for scope, level in (inner.get("permissions") or {}).items():
                if level == "write":
                    assert permissions.get(scope) == "write", (
                        f"{where} must grant {scope}: write to {inner_id}"
                    )


def _credential_jobs(workflow: str) -> dict[str, dict[str, Any]]:
    return {
        job_id: job for job_id, job in load(workflow)["jobs"].items() if uses_action(job, CREDENTIALS_ACTION)
    }


def test_pull_request_previews_staging_and_prod_only_for_same_repo_prs_with_a_configured_role() -> None:
    previewed: set[str] = set()
    for job_id, job in _credential_jobs(PULL_REQUEST).items():
        env = str(job.get("with", {}).get("environment", ""))
        variable = f"vars.AWS_PREVIEW_ROLE_ARN_{env.upper()}"
        guard = condition(job)
        assert FORK_GUARD in guard, f"{job_id}: pull requests from forks must not get credentials"
        assert f"{variable} != ''" in guard, f"{job_id}: runs only where {variable} is set"
        assert job["with"]["role-to-assume"] == "${{ " + variable + " }}"
        previewed.add(env)
    assert previewed == {"staging", "prod"}
    assert previewed <= set(checked_in_environment_names())


def test_the_offline_plan_and_tests_run_without_credentials_or_guards() -> None:
    jobs = load(PULL_REQUEST)["jobs"]
    for job_id in ("plan", "test"):
        assert not uses_action(jobs[job_id], CREDENTIALS_ACTION)
        assert "if" not in jobs[job_id], f"{job_id} must always run"
    assert any(inv.workflow == PULL_REQUEST and inv.command_path == ("plan",) and "--json" in inv.argv
               for inv in INVOCATIONS)  # fmt: skip
    test_runs = " ".join(str(s.get("run", "")) for s in jobs["test"]["steps"])
    assert "apt-get install -y" in test_runs and "mariadb-server" in test_runs
    assert "make test" in test_runs


def test_the_preview_workflow_installs_only_the_cli_and_previews_with_json() -> None:
    called = load("preview-environment.yml")
    assert set(triggers(called)) == {"workflow_call"}
    steps = [step for job in called["jobs"].values() for step in job["steps"]]
    pulumi_steps = [s for s in steps if action_name(s.get("uses", "")) == "pulumi/actions"]
    assert len(pulumi_steps) == 1 and "command" not in (pulumi_steps[0].get("with") or {})
    credentials = [s for s in steps if action_name(s.get("uses", "")) == CREDENTIALS_ACTION]
    assert [s["with"]["role-to-assume"] for s in credentials] == ["${{ inputs.role-to-assume }}"]
    previews = [inv for inv in INVOCATIONS if inv.workflow == "preview-environment.yml"]
    assert [inv.command_path for inv in previews] == [("preview",)]
    assert "--json" in previews[0].argv and "--env" in previews[0].argv
    names = [s.get("name", s.get("uses", "")) for s in steps]
    assert names.index("infra preview --json") < next(
        i for i, s in enumerate(steps) if "github-script" in s.get("uses", "")
    )


def _ephemeral_job() -> tuple[str, dict[str, Any]]:
    jobs = load(EPHEMERAL)["jobs"]
    assert len(jobs) == 1
    return next(iter(jobs.items()))


def test_ephemeral_runs_on_a_schedule_and_on_demand_one_at_a_time() -> None:
    doc = load(EPHEMERAL)
    on = triggers(doc)
    assert "schedule" in on and on["schedule"][0]["cron"]
    assert "workflow_dispatch" in on
    assert doc["concurrency"]["group"]
    assert doc["concurrency"]["cancel-in-progress"] is False


def test_ephemeral_is_skipped_cleanly_without_its_role() -> None:
    _, job = _ephemeral_job()
    assert "vars.AWS_EPHEMERAL_ROLE_ARN != ''" in condition(job)
    roles = {
        s["with"]["role-to-assume"]
        for s in job["steps"]
        if action_name(s.get("uses", "")) == CREDENTIALS_ACTION
    }
    assert roles == {"${{ vars.AWS_EPHEMERAL_ROLE_ARN }}"}


def test_ephemeral_creates_checks_destroys_always_then_reaps() -> None:
    _, job = _ephemeral_job()
    ours = [inv for inv in INVOCATIONS if inv.workflow == EPHEMERAL]
    assert [inv.command_path for inv in ours] == [
        ("ephemeral", "up"),
        ("status",),
        ("destroy",),
        ("ephemeral", "reap"),
    ]
    up, status, destroy, reap = ours
    steps = {s.get("name"): s for s in job["steps"]}
    # Once `ephemeral up` has started (whatever its outcome), the teardown runs ...
    assert condition(steps[destroy.step]) == "${{ always() && steps.up.outcome != 'skipped' }}"
    # ... and leftovers are reaped whenever there are credentials, whatever happened before.
    assert condition(steps[reap.step]) == "${{ always() && steps.credentials.outcome == 'success' }}"
    refresh = [
        s for s in job["steps"] if s.get("id") != "credentials" and CREDENTIALS_ACTION in s.get("uses", "")
    ]
    assert [condition(s) for s in refresh] == [condition(steps[destroy.step])]
    assert steps[up.step]["id"] == "up"
    name = up.argv[up.argv.index("--name") + 1]
    assert status.argv[status.argv.index("--env") + 1] == name
    assert destroy.argv[destroy.argv.index("--env") + 1] == name
    assert "--yes" in destroy.argv
    assert up.argv[up.argv.index("--from") + 1] in checked_in_environment_names()


def test_the_ephemeral_name_is_a_valid_environment_name_for_any_run() -> None:
    _, job = _ephemeral_job()
    template = str(job["env"]["ENV_NAME"])
    longest = template.replace("${{ github.run_id }}", "9" * 11).replace("${{ github.run_attempt }}", "99")
    assert "${{" not in longest
    assert aws_rules.check_environment_name("name", longest) == longest


def test_the_ephemeral_backend_check_matches_the_test_template() -> None:
    """The workflow refuses to run the round trip on a state backend that dies with the runner."""
    _, job = _ephemeral_job()
    step = next(s for s in job["steps"] if "state backend" in s.get("name", ""))
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=PROJECT_ROOT,
                            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    backend = load_environment("test").state.backend_url
    if backend and not backend.startswith("file://"):
        assert result.returncode == 0, result.stdout + result.stderr
        assert backend in result.stdout
    else:
        assert result.returncode == 1
        assert "::error::environments/test.yaml has no shared state backend" in result.stdout


# --- `infra` invocations against the CLI --------------------------------------------------------------


def test_the_workflows_invoke_every_operation_they_promise() -> None:
    paths = {inv.command_path for inv in INVOCATIONS}
    assert paths == {
        ("plan",),
        ("preview",),
        ("ephemeral", "up"),
        ("status",),
        ("destroy",),
        ("ephemeral", "reap"),
    }


@pytest.mark.parametrize("invocation", _invocation_params())
def test_every_infra_invocation_matches_the_cli(invocation: Invocation) -> None:
    assert cli_problem(invocation.argv) is None, f"{invocation}: {cli_problem(invocation.argv)}"


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["plan", "--environment", "prod"], "--environment"),
        (["ephemeral", "upp"], "no command 'upp'"),
        (["destroy", "--env"], "--env"),
        (["ephemeral"], "needs a subcommand"),
    ],
)
def test_the_cli_check_rejects_renamed_commands_and_flags(argv: list[str], complaint: str) -> None:
    problem = cli_problem(argv)
    assert problem is not None and complaint in problem


def test_the_shell_parser_finds_infra_behind_keywords_and_redirections() -> None:
    script = 'code=0\nif ! infra plan --env "$x" --json > out.json 2>&1; then\n  X=1 .venv/bin/infra rules --json | jq .\nfi'
    found = [infra_argv(c) for c in shell_commands(script)]
    assert [a for a in found if a is not None] == [["plan", "--env", "$x", "--json"], ["rules", "--json"]]


# --- The plan and preview steps, executed --------------------------------------------------------------

FAKE_INFRA = """\
#!/usr/bin/env bash
# Stand-in for `infra plan --env NAME --json`: behaviour chosen by the environment's name.
echo "$*" >> "$CALLS"
name="$3"
case "$name" in
  broken) echo "error: invalid environment file environments/broken.yaml: account_id" >&2; exit 3 ;;
  risky)
    echo '{"env": "risky", "summary": {"stacks": 3, "resources": 40, "errors": 1, "warnings": 0},
      "findings": [{"rule": "aurora-deletion-protection", "severity": "error", "stack": "risky.us-east-1",
      "resource": "aurora-cluster", "message": "deletion protection is off"}],
      "rto_budget": {"total_seconds": 905}}'
    exit 1 ;;
  *) echo "{\\"env\\": \\"$name\\", \\"summary\\": {\\"stacks\\": 4, \\"resources\\": 228, \\"errors\\": 0, \\"warnings\\": 0}, \\"findings\\": []}" ;;
esac
"""


def _step(workflow: str, job_id: str, name: str) -> dict[str, Any]:
    job = load(workflow)["jobs"][job_id]
    return next(s for s in job["steps"] if s.get("name") == name)


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert shutil.which("bash")
    # GitHub runs `run:` scripts with `bash --noprofile --norc -eo pipefail`.
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_the_plan_step_plans_every_environment_and_fails_if_any_fails(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "infra").write_text(FAKE_INFRA)
    (bin_dir / "infra").chmod(0o755)
    (tmp_path / "environments").mkdir()
    for name in ("broken", "dev", "risky"):
        (tmp_path / "environments" / f"{name}.yaml").write_text("name: x\n")
    summary_file = tmp_path / "step-summary.md"
    env = {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls"),
        "GITHUB_STEP_SUMMARY": str(summary_file),
    }

    plan = _bash(
        _step(PULL_REQUEST, "plan", "infra plan --json, every checked-in environment")["run"], tmp_path, env
    )
    summary = _bash(_step(PULL_REQUEST, "plan", "Summary")["run"], tmp_path, env)

    assert plan.returncode == 1, plan.stdout + plan.stderr
    assert (tmp_path / "calls").read_text().splitlines() == [
        f"plan --env {name} --json" for name in ("broken", "dev", "risky")
    ]
    assert {p.name: p.read_text().strip() for p in (tmp_path / "plans").glob("*.exit")} == {
        "plan-broken.exit": "3",
        "plan-dev.exit": "0",
        "plan-risky.exit": "1",
    }
    assert summary.returncode == 0, summary.stderr
    text = (tmp_path / "plans" / "summary.md").read_text()
    assert text == summary_file.read_text()
    assert "| dev | ✅ ok | 4 | 228 | 0 | 0 | - |" in text
    assert "| risky | ❌ exit 1: error-level findings | 3 | 40 | 1 | 0 | 905 s |" in text
    assert (
        "`error` `aurora-deletion-protection` (risky.us-east-1 / aurora-cluster): deletion protection is off"
        in text
    )
    assert "| broken | ❌ exit 3: invalid environment |" in text
    assert "error: invalid environment file environments/broken.yaml: account_id" in text


def test_the_plan_step_passes_when_every_plan_passes(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "infra").write_text(FAKE_INFRA)
    (bin_dir / "infra").chmod(0o755)
    (tmp_path / "environments").mkdir()
    for name in checked_in_environment_names():
        shutil.copy(ENVIRONMENTS_DIR / f"{name}.yaml", tmp_path / "environments")
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls")}

    plan = _bash(
        _step(PULL_REQUEST, "plan", "infra plan --json, every checked-in environment")["run"], tmp_path, env
    )

    assert plan.returncode == 0, plan.stdout + plan.stderr
    planned = [line.split()[2] for line in (tmp_path / "calls").read_text().splitlines()]
    assert planned == checked_in_environment_names()


def _preview_summary(tmp_path: Path, exit_code: str, document: str | None, log: str) -> str:
    if document is not None:
        (tmp_path / "preview-staging.json").write_text(document)
    (tmp_path / "preview-staging.log").write_text(log)
    step = _step("preview-environment.yml", "preview", "Summary")
    summary_file = tmp_path / "step-summary.md"
    result = _bash(
        step["run"],
        tmp_path,
        {
            "ENV_NAME": "staging",
            "EXIT_CODE": exit_code,
            "GITHUB_STEP_SUMMARY": str(summary_file),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        },
    )
    assert result.returncode == 0, result.stderr
    return summary_file.read_text()


def test_the_preview_summary_names_the_failed_stack_and_resource(tmp_path: Path) -> None:
    document = """{"env": "staging", "operation": "preview", "ok": false, "seconds": 12.5,
      "stacks": [{"stack": "staging.us-east-1", "operation": "preview", "seconds": 9.1,
                  "changes": {"create": 0, "update": 2, "delete": 0, "same": 80}, "outputs": {}}],
      "failed": {"stack": "staging.us-west-2", "resource": "aurora-cluster", "kind": "failed",
                 "message": "stack staging.us-west-2 failed: InvalidParameterCombination"},
      "skipped": ["staging.dns"]}"""

    text = _preview_summary(tmp_path, "4", document, "progress...\n")

    assert "### `infra preview --env staging`: ❌ exit 4 (a stack or operation failed)" in text
    assert "| staging.us-east-1 | 0 | 2 | 0 | 80 | 9.1 |  |" in text
    assert "**Failed**: stack `staging.us-west-2` at resource `aurora-cluster` (failed)" in text
    assert "Not previewed: `staging.dns`" in text


def test_the_preview_summary_shows_the_log_when_no_document_was_produced(tmp_path: Path) -> None:
    text = _preview_summary(tmp_path, "5", None, "line 1\nerror: the writer of staging is in us-west-2\n")

    assert "exit 5 (refused" in text
    assert "error: the writer of staging is in us-west-2" in text
