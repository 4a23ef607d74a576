"""The Automation API runner, driven through the real ``pulumi.automation`` code path.

No Pulumi binary: :class:`FakePulumi` subclasses ``PulumiCommand`` (overriding ``__init__``
and ``run``) and is passed to the SDK through ``LocalWorkspaceOptions(pulumi_command=...)``.
It records the exact CLI argument lists the SDK runs, keeps a tiny in-memory backend
(stacks, config, tags, outputs, history), and answers in the shapes the SDK parses: JSON for
``stack output``/``stack history``/``stack ls``/``config``, engine events streamed to the
``--event-log`` target (gRPC for CLI > 3.205, a JSON-lines file before), and failures whose
stderr the SDK turns into its typed errors.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from pulumi.runtime.proto import events_pb2, events_pb2_grpc
from semver import VersionInfo

from model.environment import Environment, StateSettings, load_environment
from model.topology import stack_by_name, stack_config
from orchestrator.deploy.automation import AutomationRunner
from orchestrator.deploy.engine import Orchestrator
from orchestrator.deploy.runner import ProgressEvent, StackOperationError

PROJECT = "aurora-global"
SETUP_VERBS = {
    ("stack", "select"),
    ("stack", "init"),
    ("config", "set-all"),
    ("config", "rm-all"),
    ("stack", "tag"),
}

# --- The fake CLI ------------------------------------------------------------------------------


@dataclass
class Call:
    args: list[str]
    env: dict[str, str]
    cwd: str
    thread: str


@dataclass
class Failure:
    """A canned failure for (verb, stack): stderr/stdout as the CLI prints them, events before it."""

    stderr: str
    stdout: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    once: bool = True


@dataclass
class FakeStack:
    secrets_provider: str | None = None
    config: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    resources: list[tuple[str, str]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def urn(stack: str, typ: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{typ}::{name}"


def default_program(stack: str) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Resources and outputs of a stack, shaped like the real programs' exports."""
    env, _, rest = stack.partition(".")
    slug = stack.replace(".", "-")
    resources = [
        ("pulumi:pulumi:Stack", f"{PROJECT}-{stack}"),
        ("aws:ec2/vpc:Vpc", f"{slug}-vpc"),
        ("aws:rds/cluster:Cluster", f"{slug}-cluster"),
    ]
    outputs: dict[str, Any] = {
        "vpc_id": f"vpc-{slug}",
        "cluster_identifier": f"{slug}-cluster",
        "cluster_endpoint": f"{slug}.cluster-abc.{rest}.rds.amazonaws.com",
        "reader_endpoint": f"{slug}.cluster-ro-abc.{rest}.rds.amazonaws.com",
        "global_cluster_identifier": f"{env}-global",
        "global_cluster_arn": f"arn:aws:rds::111111111111:global-cluster:{env}-global",
        "secrets_kms_replica_arns": {"us-west-2": "arn:aws:kms:us-west-2:1:key/mrk-1"},
        "global_writer_endpoint": f"{env}-global.global-abc.global.rds.amazonaws.com",
        # what the <env>.failover stack is fed from every regional stack
        "private_subnet_ids": [f"subnet-{slug}-a"],
        "private_route_table_ids": [f"rtb-{slug}-a"],
        "db_security_group_id": f"sg-{slug}-db",
        "lambda_security_group_id": f"sg-{slug}-lambda",
        "kms_key_arn": f"arn:aws:kms:{rest}:111111111111:key/{slug}",
        "layer_arn": f"arn:aws:lambda:{rest}:111111111111:layer:{slug}-deps:1",
        "cluster_arn": f"arn:aws:rds:{rest}:111111111111:cluster:{slug}-cluster",
        "port": 3306,
        "alarm_topic_arn": f"arn:aws:sns:{rest}:111111111111:{slug}-alarms",
        # the home stack of an automated environment (prod): the probe user's secret
        "probe_secret_arn": f"arn:aws:secretsmanager:{rest}:111111111111:secret:aurora/{env}/users/probe-a1",
        "probe_secret_replica_arns": {"us-west-2": "arn:aws:secretsmanager:us-west-2:1:secret:probe-a1"},
        "secrets_kms_key_arn": f"arn:aws:kms:{rest}:111111111111:key/mrk-{slug}",
    }
    return resources, outputs


class FakePulumi(PulumiCommand):
    """A PulumiCommand that answers like the CLI without running anything."""

    def __init__(self, version: str = "3.272.0") -> None:
        self.command = "pulumi"
        self.version = VersionInfo.parse(version)
        self.calls: list[Call] = []
        self.backend: dict[str, FakeStack] = {}
        self.failures: dict[tuple[str, str], Failure] = {}
        self.fail_resource: dict[str, tuple[str, str]] = {}  # stack -> (resource name, provider error)
        self.setup_delay = 0.0
        self.up_barrier: threading.Barrier | None = None
        self.max_setup_concurrency = 0
        self.max_up_concurrency = 0
        self._active_setup = 0
        self._active_up = 0
        self._lock = threading.Lock()
        self._clock = 0

    # The real PulumiCommand.run puts --non-interactive first; so does this one, so the
    # recorded lists are exactly what the binary would receive.
    def run(self, args, cwd, additional_env, on_output=None, on_error=None):  # type: ignore[no-untyped-def]
        if "--non-interactive" not in args:
            args.insert(0, "--non-interactive")
        with self._lock:
            self.calls.append(Call(list(args), dict(additional_env), cwd, threading.current_thread().name))
        words = [a for a in args if a != "--non-interactive"]
        verb = (words[0], words[1]) if words[0] in ("stack", "config") and len(words) > 1 else (words[0],)
        if verb in SETUP_VERBS or verb == ("config", "--show-secrets"):
            stdout, stderr, code = self._setup(words)
        else:
            stdout, stderr, code = self._dispatch(words)
        result = CommandResult(stdout=stdout, stderr=stderr, code=code)
        if code != 0:
            raise create_command_error(result)
        return result

    def _setup(self, words: list[str]) -> tuple[str, str, int]:
        with self._lock:
            self._active_setup += 1
            self.max_setup_concurrency = max(self.max_setup_concurrency, self._active_setup)
        try:
            time.sleep(self.setup_delay)  # widen the window an unlocked caller would race in
            return self._dispatch(words)
        finally:
            with self._lock:
                self._active_setup -= 1

    # --- helpers ---

    @staticmethod
    def _stack_arg(words: list[str]) -> str:
        return words[len(words) - 1 - words[::-1].index("--stack") + 1]

    @staticmethod
    def short(name: str) -> str:
        return name.rsplit("/", 1)[-1]

    def _now(self) -> str:
        self._clock += 1
        return f"2026-03-01T10:{self._clock // 60:02d}:{self._clock % 60:02d}.000Z"

    def _failure(self, verb: str, stack: str) -> Failure | None:
        failure = self.failures.get((verb, stack))
        if failure is not None and failure.once:
            del self.failures[(verb, stack)]
        return failure

    def _missing(self, name: str) -> tuple[str, str, int]:
        return "", f"error: no stack named '{name}' found", 255

    def _send(self, words: list[str], events: list[dict[str, Any]]) -> None:
        target = words[words.index("--event-log") + 1]
        numbered = [
            {"sequence": i, "timestamp": 1_770_000_000 + i, **e} for i, e in enumerate(events, start=1)
        ]
        if target.startswith("tcp://"):
            with grpc.insecure_channel(target.removeprefix("tcp://")) as channel:
                stub = events_pb2_grpc.EventsStub(channel)
                stub.StreamEvents(iter([events_pb2.EventRequest(event=json.dumps(e)) for e in numbered]))
        else:
            with open(target, "a", encoding="utf-8") as log:
                for event in [*numbered, {"sequence": len(numbered) + 1, "timestamp": 0, "cancelEvent": {}}]:
                    log.write(json.dumps(event) + "\n")

    # --- commands ---

    def _dispatch(self, words: list[str]) -> tuple[str, str, int]:
        head = words[0]
        if head == "stack" and words[1] == "ls":
            rows = []
            for name, st in sorted(self.backend.items()):
                row: dict[str, Any] = {"name": name, "current": False, "resourceCount": len(st.resources)}
                if st.history:
                    row["lastUpdate"] = st.history[0]["endTime"]
                rows.append(row)
            return json.dumps(rows), "", 0
        if head == "stack" and words[1] == "init":
            name = self.short(words[2])
            failure = self._failure("init", name)
            if failure:
                return failure.stdout, failure.stderr, 255
            if name in self.backend:
                return "", f"error: stack '{words[2]}' already exists", 255
            provider = words[words.index("--secrets-provider") + 1] if "--secrets-provider" in words else None
            self.backend[name] = FakeStack(secrets_provider=provider)
            return f"Created stack '{name}'", "", 0
        if head == "stack" and words[1] == "rm":
            name = self.short(words[-1])
            if name not in self.backend:
                return self._missing(words[-1])
            del self.backend[name]
            return "", "", 0
        if head == "state" and words[1] == "move":
            return self._state_move(words)
        stack_arg = self._stack_arg(words)
        name = self.short(stack_arg)
        failure = self._failure(words[1] if head in ("stack", "config") else head, name)
        if failure:
            if failure.events and "--event-log" in words:
                self._send(words, failure.events)
            return failure.stdout, failure.stderr, 255
        state = self.backend.get(name)
        if state is None:
            return self._missing(stack_arg)
        if head == "stack" and words[1] == "select":
            return "", "", 0
        if head == "config" and words[1] == "set-all":
            pairs = [words[i + 1] for i, w in enumerate(words) if w in ("--plaintext", "--secret")]
            state.config.update(dict(p.split("=", 1) for p in pairs))
            return "", "", 0
        if head == "config" and words[1] == "rm-all":
            for key in words[words.index(stack_arg) + 1 :]:
                state.config.pop(key, None)
            return "", "", 0
        if head == "config":
            return json.dumps({k: {"value": v, "secret": False} for k, v in state.config.items()}), "", 0
        if head == "stack" and words[1] == "tag":
            if words[2] == "set":
                state.tags[words[3]] = words[4]
                return "", "", 0
            return json.dumps({"pulumi:project": PROJECT, **state.tags}), "", 0
        if head == "stack" and words[1] == "output":
            return json.dumps(state.outputs), "", 0
        if head == "stack" and words[1] == "history":
            return json.dumps(state.history[:1] if "--page-size" in words else state.history), "", 0
        if head == "up":
            return self._up(words, name, state)
        if head == "preview":
            return self._preview(words, name, state)
        if head == "destroy":
            return self._destroy(words, name, state)
        if head == "cancel":
            return "", "", 0
        raise AssertionError(f"the fake CLI does not know {words}")

    def _up(self, words: list[str], name: str, state: FakeStack) -> tuple[str, str, int]:
        with self._lock:
            self._active_up += 1
            self.max_up_concurrency = max(self.max_up_concurrency, self._active_up)
        try:
            if self.up_barrier is not None:
                self.up_barrier.wait()  # both stacks' updates must be running at the same time
            resources, outputs = default_program(name)
            events: list[dict[str, Any]] = []
            started = self._now()
            before = set(state.resources)
            for typ, res in resources:
                op = "same" if (typ, res) in before else "create"
                meta = {"op": op, "urn": urn(name, typ, res), "type": typ, "provider": ""}
                events.append({"resourcePreEvent": {"metadata": meta}})
                failing = self.fail_resource.get(name)
                if failing and failing[0] == res:
                    events.append({"diagnosticEvent": {"urn": meta["urn"], "message": failing[1] + "\n",
                                                       "color": "never", "severity": "error"}})  # fmt: skip
                    events.append({"resOpFailedEvent": {"metadata": meta, "status": 1, "steps": 0}})
                    self._send(words, events)
                    return f"    error: {failing[1]}", "error: update failed", 255
                events.append({"resOutputsEvent": {"metadata": meta}})
            changes = {"create": len(set(resources) - before), "same": len(set(resources) & before)}
            events.append({"summaryEvent": {"resourceChanges": changes, "durationSeconds": 1}})
            self._send(words, events)
            state.resources, state.outputs = list(resources), outputs
            state.history.insert(0, self._history("update", started, changes, words))
            return "Update succeeded", "", 0
        finally:
            with self._lock:
                self._active_up -= 1

    def _history(self, kind: str, started: str, changes: dict[str, int], words: list[str]) -> dict[str, Any]:
        message = words[words.index("--message") + 1] if "--message" in words else ""
        return {
            "kind": kind,
            "startTime": started,
            "endTime": self._now(),
            "message": message,
            "environment": {"exec.kind": "auto.local"},
            "config": {},
            "result": "succeeded",
            "version": len(self.calls),
            "resourceChanges": changes,
        }

    def _preview(self, words: list[str], name: str, state: FakeStack) -> tuple[str, str, int]:
        resources, _ = default_program(name)
        before = set(state.resources)
        events: list[dict[str, Any]] = []
        for typ, res in resources:
            op = "same" if (typ, res) in before else "create"
            meta = {"op": op, "urn": urn(name, typ, res), "type": typ, "provider": ""}
            events.append({"resourcePreEvent": {"metadata": meta, "planning": True}})
            events.append({"resOutputsEvent": {"metadata": meta, "planning": True}})
        changes = {"create": len(set(resources) - before), "same": len(set(resources) & before)}
        events.append({"summaryEvent": {"resourceChanges": changes, "durationSeconds": 0}})
        self._send(words, events)
        return "Previewing update", "", 0

    def _destroy(self, words: list[str], name: str, state: FakeStack) -> tuple[str, str, int]:
        started = self._now()
        events: list[dict[str, Any]] = []
        for typ, res in reversed(state.resources):
            meta = {"op": "delete", "urn": urn(name, typ, res), "type": typ, "provider": ""}
            events += [{"resourcePreEvent": {"metadata": meta}}, {"resOutputsEvent": {"metadata": meta}}]
        changes = {"delete": len(state.resources)}
        events.append({"summaryEvent": {"resourceChanges": changes}})
        self._send(words, events)
        state.resources, state.outputs = [], {}
        state.history.insert(0, self._history("destroy", started, changes, words))
        return "Destroy succeeded", "", 0

    def _state_move(self, words: list[str]) -> tuple[str, str, int]:
        source_arg, dest_arg = words[words.index("--source") + 1], words[words.index("--dest") + 1]
        source, dest = self.backend.get(self.short(source_arg)), self.backend.get(self.short(dest_arg))
        if source is None or dest is None:
            return self._missing(source_arg if source is None else dest_arg)
        failure = self._failure("state-move", self.short(source_arg))
        if failure is not None:
            return failure.stdout, failure.stderr, 255
        urns = [w for w in words if w.startswith("urn:")]
        by_urn = {urn(self.short(source_arg), typ, res): (typ, res) for typ, res in source.resources}
        unknown = [u for u in urns if u not in by_urn]
        if unknown:
            return "", "error: no resources found to move", 255  # CLI 3.274 names none of them
        moving = [by_urn[u] for u in urns]
        source.resources = [r for r in source.resources if r not in moving]
        dest.resources = dest.resources + moving
        return f"Successfully moved resources from {source_arg} to {dest_arg}", "", 0

    # --- queries for assertions ---

    def commands(self, *prefix: str) -> list[list[str]]:
        """Argument lists (without --non-interactive) that start with ``prefix``."""
        stripped = [[a for a in c.args if a != "--non-interactive"] for c in self.calls]
        return [words for words in stripped if words[: len(prefix)] == list(prefix)]


# --- Fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n")
    return tmp_path


@pytest.fixture
def fake() -> FakePulumi:
    return FakePulumi()


@pytest.fixture(scope="module")
def staging() -> Environment:
    return load_environment("staging")


@pytest.fixture(scope="module")
def dev() -> Environment:
    return load_environment("dev")


@pytest.fixture(scope="module")
def prod() -> Environment:
    return load_environment("prod")


class Progress:
    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)


def make_runner(
    env: Environment, fake: FakePulumi, project: Path, notices: list[str] | None = None
) -> AutomationRunner:
    sink = notices if notices is not None else []
    return AutomationRunner(env, project_dir=project, pulumi_command=fake, notice=sink.append)


def primary_outputs(env: Environment) -> dict[str, Any]:
    return default_program(f"{env.name}.{env.primary_region}")[1]


def pairs(words: list[str]) -> dict[str, str]:
    return dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--plaintext")


# --- Tests -------------------------------------------------------------------------------------


def test_secondary_up_persists_fed_config_under_its_stack_and_returns_outputs(
    staging: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN the staging secondary and the primary's outputs fed forward by the topology
    spec = stack_by_name(staging, "staging.us-west-2")
    config = stack_config(staging, spec, {"staging.us-east-1": primary_outputs(staging)})
    runner = make_runner(staging, fake, project)

    # WHEN it is brought up
    result = runner.up(
        spec, config, Progress(), tags={"aurora:environment": "staging", "aurora:role": "secondary"}
    )

    # THEN the stack is created under its self-managed name with the environment's secrets provider
    qualified = f"organization/{PROJECT}/staging.us-west-2"
    assert fake.commands("stack", "select") == [["stack", "select", "--stack", qualified]]
    assert fake.commands("stack", "init") == [
        [
            "stack",
            "init",
            qualified,
            "--secrets-provider",
            "awskms://alias/pulumi-aurora-staging?region=us-east-1",
        ]
    ]
    # AND one `config set-all --stack <name>` carries every fed key, structured values as JSON
    (set_all,) = fake.commands("config", "set-all")
    assert set_all[:4] == ["config", "set-all", "--stack", qualified]
    persisted = pairs(set_all)
    assert persisted["aurora:globalClusterIdentifier"] == "staging-global"
    assert persisted["aurora:environment"] == "staging"
    assert json.loads(persisted["aurora:secretsKmsReplicaArns"]) == {
        "us-west-2": "arn:aws:kms:us-west-2:1:key/mrk-1"
    }
    assert fake.backend["staging.us-west-2"].config == persisted
    # AND the tags are set on the stack before the update runs
    assert ["stack", "tag", "set", "aurora:role", "secondary", "--stack", qualified] in fake.commands(
        "stack", "tag"
    )
    assert fake.backend["staging.us-west-2"].tags == {
        "aurora:environment": "staging",
        "aurora:role": "secondary",
    }
    (up,) = fake.commands("up")
    assert up[:3] == ["up", "--yes", "--skip-preview"]
    assert up[up.index("--exec-kind") + 1] == "auto.local" and up[-2:] == ["--stack", qualified]
    order = [" ".join(w[:2]) for w in fake.commands()]
    assert order.index("config set-all") < order.index("up --yes") and order.index("stack tag") < order.index(
        "up --yes"
    )
    # AND every command ran in the project directory against the environment's backend
    assert {c.cwd for c in fake.calls} == {str(project)}
    assert {c.env["PULUMI_BACKEND_URL"] for c in fake.calls} == {staging.state.backend_url}
    # AND the result carries the parsed outputs and the update's change counts
    assert result.stack == "staging.us-west-2" and result.operation == "up"
    assert result.outputs["cluster_endpoint"] == "staging-us-west-2.cluster-abc.us-west-2.rds.amazonaws.com"
    assert result.outputs["secrets_kms_replica_arns"] == {"us-west-2": "arn:aws:kms:us-west-2:1:key/mrk-1"}
    assert result.changes == {"create": 3, "same": 0}


@pytest.mark.parametrize("cli_version", ["3.272.0", "3.200.0"], ids=["grpc-events", "event-log-file"])
def test_up_reports_each_resource_step_from_engine_events(
    cli_version: str, dev: Environment, project: Path
) -> None:
    # GIVEN a CLI whose engine events arrive over gRPC (> 3.205) or through the event-log file
    fake = FakePulumi(version=cli_version)
    runner = make_runner(dev, fake, project)
    progress = Progress()
    spec = stack_by_name(dev, "dev.us-east-1")

    # WHEN the stack is created, then updated again with nothing to change
    runner.up(spec, stack_config(dev, spec, {}), progress)
    first = list(progress.events)
    progress.events.clear()
    second = runner.up(spec, stack_config(dev, spec, {}), progress)

    # THEN each resource was reported creating, then created, on a worker thread
    assert ("dev.us-east-1", "up", "aws:rds/cluster:Cluster", "dev-us-east-1-cluster", "creating") in first
    assert first.index(
        ("dev.us-east-1", "up", "aws:ec2/vpc:Vpc", "dev-us-east-1-vpc", "creating")
    ) < first.index(("dev.us-east-1", "up", "aws:ec2/vpc:Vpc", "dev-us-east-1-vpc", "created"))
    assert threading.main_thread().name not in progress.threads
    # AND an unchanged resource is reported once as "same", never as in progress
    assert ("dev.us-east-1", "up", "aws:ec2/vpc:Vpc", "dev-us-east-1-vpc", "same") in progress.events
    assert all(status != "creating" for *_, status in progress.events)
    assert second.changes == {"create": 0, "same": 3}


def test_without_a_backend_the_project_gets_a_local_file_backend_and_one_notice(
    dev: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN an environment file with no state settings (dev) and a fresh project
    assert dev.state.backend_url is None
    notices: list[str] = []

    # WHEN the runner is used for several operations
    runner = make_runner(dev, fake, project, notices)
    spec = stack_by_name(dev, "dev.us-east-1")
    runner.up(spec, stack_config(dev, spec, {}), Progress())
    runner.info(spec)

    # THEN state goes to <project>/.pulumi-state through PULUMI_BACKEND_URL, under self-managed names
    state_dir = project / ".pulumi-state"
    assert state_dir.is_dir()
    assert {c.env["PULUMI_BACKEND_URL"] for c in fake.calls} == {f"file://{state_dir}"}
    assert fake.commands("up")[0][-2:] == ["--stack", f"organization/{PROJECT}/dev.us-east-1"]
    # AND the passphrase provider is the CLI's default (no --secrets-provider)
    assert "--secrets-provider" not in fake.commands("stack", "init")[0]
    # AND exactly one notice says what happened and how to configure a real backend and the passphrase
    assert len(notices) == 1
    assert str(state_dir) in notices[0]
    assert "state.backend_url in environments/dev.yaml" in notices[0]
    assert "PULUMI_CONFIG_PASSPHRASE" in notices[0]

    # AND a later run (directory already there) still gets a single, shorter reminder
    again: list[str] = []
    make_runner(dev, fake, project, again)
    assert len(again) == 1 and "local file backend" in again[0] and len(again[0]) < len(notices[0])


def test_pulumi_cloud_backend_uses_short_stack_names(
    dev: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN an environment whose state is in Pulumi Cloud
    cloud = dev.model_copy(update={"state": StateSettings(backend_url="https://api.pulumi.com")})
    notices: list[str] = []
    runner = make_runner(cloud, fake, project, notices)
    spec = stack_by_name(cloud, "dev.us-east-1")

    # WHEN a stack is deployed
    runner.up(spec, stack_config(cloud, spec, {}), Progress())

    # THEN the service resolves the short name itself and no local-backend notice is given
    assert fake.commands("up")[0][-2:] == ["--stack", "dev.us-east-1"]
    assert {c.env["PULUMI_BACKEND_URL"] for c in fake.calls} == {"https://api.pulumi.com"}
    assert notices == [] and not (project / ".pulumi-state").exists()


def test_rerun_drops_fed_keys_that_upstream_no_longer_provides(
    staging: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN a secondary deployed with the primary's alarm topic fed in
    runner = make_runner(staging, fake, project)
    spec = stack_by_name(staging, "staging.us-west-2")
    with_topic = {**primary_outputs(staging), "alarm_topic_arn": "arn:aws:sns:us-east-1:2:alarms"}
    runner.up(spec, stack_config(staging, spec, {"staging.us-east-1": with_topic}), Progress())
    assert "aurora:primaryAlarmTopicArn" in fake.backend["staging.us-west-2"].config
    without_topic = {k: v for k, v in primary_outputs(staging).items() if k != "alarm_topic_arn"}

    # WHEN it is re-run after the primary stopped exporting it
    runner.up(spec, stack_config(staging, spec, {"staging.us-east-1": without_topic}), Progress())

    # THEN the stale key is removed from the stack's config file, the others stay
    assert fake.commands("config", "rm-all") == [
        [
            "config",
            "rm-all",
            "--stack",
            f"organization/{PROJECT}/staging.us-west-2",
            "aurora:primaryAlarmTopicArn",
        ]
    ]
    assert "aurora:primaryAlarmTopicArn" not in fake.backend["staging.us-west-2"].config
    assert fake.backend["staging.us-west-2"].config["aurora:globalClusterIdentifier"] == "staging-global"
    # AND the second run reused the stack object: one `stack select` in all
    assert len(fake.commands("stack", "select")) == 1


def test_preview_persists_config_and_returns_change_summary_and_current_outputs(
    dev: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN a deployed stack
    runner = make_runner(dev, fake, project)
    spec = stack_by_name(dev, "dev.us-east-1")
    runner.up(spec, stack_config(dev, spec, {}), Progress())
    progress = Progress()

    # WHEN it is previewed
    result = runner.preview(spec, stack_config(dev, spec, {}), progress)

    # THEN the change counts come from the engine's summary event, the outputs are the stack's current
    assert result.operation == "preview"
    assert result.changes == {"create": 0, "same": 3}
    assert result.outputs["vpc_id"] == "vpc-dev-us-east-1"
    (preview,) = fake.commands("preview")
    assert preview[-2:] == ["--stack", f"organization/{PROJECT}/dev.us-east-1"] and "--event-log" in preview
    # AND the config was written for `pulumi preview --stack` to see, and unchanged steps are not reported
    assert len(fake.commands("config", "set-all")) == 2
    assert progress.events == []


def test_locked_stack_names_the_holder_and_how_to_clear_a_stale_lock(
    staging: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN a self-managed backend whose lock on the primary is held by another process
    # (as CLI 3.274 prints it: the backend URL's query follows the lock file's path)
    lock_file = (
        "s3://aurora-pulumi-state-222222222222/staging/.pulumi/locks/organization/"
        f"{PROJECT}/staging.us-east-1/0b4c.json"
    )
    fake.failures[("up", "staging.us-east-1")] = Failure(
        stderr="error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) "
        "to end or delete the lock file with `pulumi cancel`.\n"
        f"  {lock_file}?region=us-east-1: created by ci@runner-7 (pid 4242) at 2026-03-01T09:58:00Z"
    )
    runner = make_runner(staging, fake, project)
    spec = stack_by_name(staging, "staging.us-east-1")

    # WHEN the stack is brought up
    with pytest.raises(StackOperationError) as caught:
        runner.up(spec, stack_config(staging, spec, {}), Progress())

    # THEN it is reported locked, with who holds the lock and the command that clears a stale one
    error = caught.value
    assert error.kind == "locked" and error.stack == "staging.us-east-1"
    assert "ci@runner-7 (pid 4242) since 2026-03-01T09:58:00Z" in str(error)
    assert f"lock file {lock_file}" in str(error)
    assert (
        f"PULUMI_BACKEND_URL={staging.state.backend_url} pulumi cancel --yes --stack "
        f"organization/{PROJECT}/staging.us-east-1" in str(error)
    )
    assert "re-run" in str(error)


def test_failed_resource_is_named_with_the_provider_error(
    staging: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN AWS rejects the primary's cluster
    provider_error = (
        "creating RDS Cluster (staging-us-east-1-cluster): operation error RDS: CreateDBCluster, "
        "InvalidParameterCombination: The engine version is not available for global databases"
    )
    fake.fail_resource["staging.us-east-1"] = ("staging-us-east-1-cluster", provider_error)
    runner = make_runner(staging, fake, project)
    spec = stack_by_name(staging, "staging.us-east-1")
    progress = Progress()

    # WHEN the stack is brought up
    with pytest.raises(StackOperationError) as caught:
        runner.up(spec, stack_config(staging, spec, {}), progress)

    # THEN the error names the stack, the resource and AWS's reason
    error = caught.value
    assert error.kind == "failed"
    assert error.resource == "staging-us-east-1-cluster (aws:rds/cluster:Cluster)"
    assert "InvalidParameterCombination" in str(error)
    assert ("staging.us-east-1", "up", "aws:rds/cluster:Cluster", "staging-us-east-1-cluster", "failed") in (
        progress.events
    )


def test_missing_pulumi_binary_says_what_to_install(
    dev: Environment, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no `pulumi` on PATH (the real PulumiCommand looks it up)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    # WHEN the runner is created
    with pytest.raises(StackOperationError) as caught:
        AutomationRunner(dev, project_dir=project, notice=lambda _: None)

    # THEN it is a missing_cli error naming the CLI and the plugin to install
    assert caught.value.kind == "missing_cli"
    assert "pulumi.com/docs/install" in str(caught.value)
    assert "pulumi plugin install resource aws 7.51.1" in str(caught.value)


def test_too_old_pulumi_cli_is_reported_with_the_version_needed(
    dev: Environment, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a `pulumi` on PATH older than the one that keeps stack tags in self-managed backends
    bin_dir = tmp_path / "old-bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text("#!/bin/sh\necho v3.200.0\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", raising=False)

    # WHEN the runner is created
    with pytest.raises(StackOperationError) as caught:
        AutomationRunner(dev, project_dir=project, notice=lambda _: None)

    # THEN it is a missing_cli error naming both versions
    assert caught.value.kind == "missing_cli"
    assert "3.211.0" in str(caught.value) and "3.200.0" in str(caught.value)
    assert "Upgrade the Pulumi CLI" in str(caught.value)


def test_missing_aws_plugin_maps_to_missing_cli(
    staging: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN the engine cannot load the aws plugin
    fake.failures[("up", "staging.us-east-1")] = Failure(
        stderr="error: could not load plugin for aws provider 'default_7_51_1': no resource plugin "
        "'pulumi-resource-aws' found in the workspace at version v7.51.1"
    )
    runner = make_runner(staging, fake, project)
    spec = stack_by_name(staging, "staging.us-east-1")

    # WHEN the stack is brought up
    with pytest.raises(StackOperationError) as caught:
        runner.up(spec, stack_config(staging, spec, {}), Progress())

    # THEN the user is told to install the plugin
    assert caught.value.kind == "missing_cli"
    assert "pulumi plugin install resource aws 7.51.1" in str(caught.value)


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            'error: failed to load checkpoint: blob (key ".pulumi/meta.yaml") (code=Unknown): '
            "NoCredentialProviders: no valid providers in chain",
            "check state.backend_url in environments/staging.yaml",
        ),
        (
            "error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE "
            "environment variables",
            "export PULUMI_CONFIG_PASSPHRASE",
        ),
    ],
    ids=["unreachable-backend", "no-passphrase"],
)
def test_backend_problems_map_to_backend_with_the_fix(
    stderr: str, expected: str, staging: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN the backend fails as soon as the stack is selected
    fake.failures[("select", "staging.us-east-1")] = Failure(stderr=stderr)
    runner = make_runner(staging, fake, project)
    spec = stack_by_name(staging, "staging.us-east-1")

    # WHEN the stack is brought up
    with pytest.raises(StackOperationError) as caught:
        runner.up(spec, stack_config(staging, spec, {}), Progress())

    # THEN it is a backend error with the fix, and nothing was deployed
    assert caught.value.kind == "backend"
    assert expected in str(caught.value)
    assert fake.commands("up") == []


def test_two_stacks_update_concurrently_while_workspace_setup_never_interleaves(
    prod: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN the two prod secondaries, a CLI whose setup commands take a while, and updates that can
    # only finish when both are running at the same time
    runner = make_runner(prod, fake, project)
    fake.setup_delay = 0.02
    fake.up_barrier = threading.Barrier(2, timeout=10)
    upstream = {"prod.us-east-1": primary_outputs(prod)}
    specs = [stack_by_name(prod, "prod.us-west-2"), stack_by_name(prod, "prod.eu-west-1")]
    progress = Progress()

    # WHEN both are brought up from two threads
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(runner.up, s, stack_config(prod, s, upstream), progress) for s in specs]
        results = [f.result(timeout=30) for f in futures]

    # THEN both succeeded, their updates overlapped, and no two setup commands ever ran at once
    assert [r.stack for r in results] == ["prod.us-west-2", "prod.eu-west-1"]
    assert not fake.up_barrier.broken
    assert fake.max_up_concurrency == 2
    assert fake.max_setup_concurrency == 1
    assert len(fake.commands("config", "set-all")) == 2
    # AND each stack got its own config file contents and progress
    assert {s for s, *_ in progress.events} == {"prod.us-west-2", "prod.eu-west-1"}
    for spec in specs:
        assert fake.backend[spec.name].config["aurora:globalClusterIdentifier"] == "prod-global"


def test_engine_feeds_primary_outputs_to_secondaries_through_the_cli(
    prod: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN the orchestration engine driving the Automation API runner
    runner = make_runner(prod, fake, project)

    # WHEN prod is brought up
    report = Orchestrator(prod, runner).up()

    # THEN every stack ran, and each secondary's persisted config holds the primary's global cluster id
    assert report.ok, report.failure
    assert [r.stack for r in report.results] == [
        "prod.us-east-1",
        "prod.us-west-2",
        "prod.eu-west-1",
        "prod.dns",
        "prod.failover",
    ]
    for secondary in ("prod.us-west-2", "prod.eu-west-1"):
        assert fake.backend[secondary].config["aurora:globalClusterIdentifier"] == "prod-global"
        assert fake.backend[secondary].tags["aurora:role"] == "secondary"
    regions = json.loads(fake.backend["prod.dns"].config["aurora:regions"])
    assert regions["eu-west-1"]["vpcId"] == "vpc-prod-eu-west-1"


def test_info_and_list_stacks_read_the_backend_without_selecting(
    staging: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN a deployed primary with tags
    runner = make_runner(staging, fake, project)
    primary = stack_by_name(staging, "staging.us-east-1")
    runner.up(
        primary,
        stack_config(staging, primary, {}),
        Progress(),
        tags={"aurora:expires-at": "2026-03-02T00:00:00Z"},
    )
    selects = len(fake.commands("stack", "select"))

    # WHEN a fresh runner reads the primary, a stack that was never deployed, and the list
    reader = make_runner(staging, fake, project)
    info = reader.info(primary)
    absent = reader.info(stack_by_name(staging, "staging.us-west-2"))
    listed = reader.list_stacks()

    # THEN the primary's outputs, tags, resource count and last update are reported
    assert info.exists and info.resource_count == 3
    assert info.outputs["global_cluster_identifier"] == "staging-global"
    assert info.tags["aurora:expires-at"] == "2026-03-02T00:00:00Z"
    assert info.last_update is not None and info.last_update.startswith("2026-03-01T10:")
    # AND the missing one does not exist, the list holds exactly the deployed stack with its tags
    assert not absent.exists
    assert [(s.name, s.tags.get("aurora:expires-at")) for s in listed] == [
        ("staging.us-east-1", "2026-03-02T00:00:00Z")
    ]
    # AND reading changed no workspace state
    assert len(fake.commands("stack", "select")) == selects


def test_destroy_removes_resources_and_passes_over_a_missing_stack(
    dev: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN a deployed stack
    runner = make_runner(dev, fake, project)
    spec = stack_by_name(dev, "dev.us-east-1")
    runner.up(spec, stack_config(dev, spec, {}), Progress())
    progress = Progress()

    # WHEN it is destroyed, and a stack that was never created is destroyed too
    result = runner.destroy(spec, progress)
    nothing = runner.destroy(stack_by_name(dev, "dev.dns"), Progress())

    # THEN its resources are gone and each deletion was reported; the missing stack is a no-op
    assert result.changes == {"delete": 3}
    assert fake.backend["dev.us-east-1"].resources == []
    assert ("dev.us-east-1", "destroy", "aws:rds/cluster:Cluster", "dev-us-east-1-cluster", "deleted") in (
        progress.events
    )
    assert fake.commands("destroy")[0][:3] == ["destroy", "--skip-preview", "--yes"]
    assert nothing.changes == {"delete": 0}
    assert runner.info(spec).resource_count == 0

    # AND remove() takes the empty stack out of the backend
    runner.remove(spec)
    assert not runner.info(spec).exists


def test_cancel_runs_pulumi_cancel_and_reports_instead_of_raising(
    dev: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN a stack this runner has worked on, and one whose cancel fails
    notices: list[str] = []
    runner = make_runner(dev, fake, project, notices)
    spec = stack_by_name(dev, "dev.us-east-1")
    runner.up(spec, stack_config(dev, spec, {}), Progress())
    notices.clear()

    # WHEN both are cancelled
    runner.cancel(spec)
    fake.failures[("cancel", "dev.us-east-1")] = Failure(stderr="error: [500] Internal Server Error")
    runner.cancel(spec)

    # THEN `pulumi cancel` ran for the stack, and the failure became a notice, not an exception
    assert fake.commands("cancel")[0] == [
        "cancel",
        "--yes",
        "--stack",
        f"organization/{PROJECT}/dev.us-east-1",
    ]
    assert len(notices) == 1 and "could not cancel dev.us-east-1" in notices[0]


def test_move_resources_runs_state_move_from_the_source_to_the_destination_stack(
    staging: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN the staging primary and secondary deployed
    runner = make_runner(staging, fake, project)
    primary, secondary = (
        stack_by_name(staging, "staging.us-east-1"),
        stack_by_name(staging, "staging.us-west-2"),
    )
    runner.up(primary, stack_config(staging, primary, {}), Progress())
    runner.up(
        secondary,
        stack_config(staging, secondary, {"staging.us-east-1": primary_outputs(staging)}),
        Progress(),
    )
    vpc = urn("staging.us-east-1", "aws:ec2/vpc:Vpc", "staging-us-east-1-vpc")
    cluster = urn("staging.us-east-1", "aws:rds/cluster:Cluster", "staging-us-east-1-cluster")

    # WHEN two of the primary's resources are moved to the secondary, parents included
    runner.move_resources(primary, secondary, [vpc, cluster], include_parents=True)

    # THEN one `state move` names both stacks by their backend names, confirms, and lists the URNs
    assert fake.commands("state", "move") == [
        [
            "state",
            "move",
            "--source",
            f"organization/{PROJECT}/staging.us-east-1",
            "--dest",
            f"organization/{PROJECT}/staging.us-west-2",
            "--yes",
            "--include-parents",
            vpc,
            cluster,
        ]
    ]
    (call,) = [c for c in fake.calls if c.args[1:3] == ["state", "move"]]
    assert call.args[0] == "--non-interactive"
    assert call.cwd == str(project) and call.env["PULUMI_BACKEND_URL"] == staging.state.backend_url
    # AND the resources left the source's state for the destination's
    assert ("aws:ec2/vpc:Vpc", "staging-us-east-1-vpc") in fake.backend["staging.us-west-2"].resources
    assert ("aws:ec2/vpc:Vpc", "staging-us-east-1-vpc") not in fake.backend["staging.us-east-1"].resources
    # AND without include_parents the flag is left out
    runner.move_resources(
        secondary, primary, [urn("staging.us-west-2", "aws:ec2/vpc:Vpc", "staging-us-east-1-vpc")]
    )
    assert "--include-parents" not in fake.commands("state", "move")[1]


@pytest.mark.parametrize(
    ("what", "fix"),
    [
        ("provider", "Give the provider the same inputs in both stacks' programs"),
        ("resource", "pulumi state delete --stack <stack> <urn>"),
    ],
)
def test_move_resources_says_which_urn_the_destination_already_holds_and_how_to_resolve_it(
    staging: Environment, fake: FakePulumi, project: Path, what: str, fix: str
) -> None:
    # GIVEN the CLI refusing the move because the destination holds a URN being moved (its
    # words, as the real-engine tier records them)
    runner = make_runner(staging, fake, project)
    primary, secondary = (
        stack_by_name(staging, "staging.us-east-1"),
        stack_by_name(staging, "staging.us-west-2"),
    )
    runner.up(primary, stack_config(staging, primary, {}), Progress())
    runner.up(
        secondary,
        stack_config(staging, secondary, {"staging.us-east-1": primary_outputs(staging)}),
        Progress(),
    )
    held = urn("staging.us-west-2", "pulumi:providers:aws", "aws-staging-us-east-1")
    fake.failures[("state-move", "staging.us-east-1")] = Failure(
        stderr=f"error: {what} {held} already exists in destination stack\n"
    )

    # WHEN resources are moved
    with pytest.raises(StackOperationError) as caught:
        runner.move_resources(
            primary, secondary, [urn("staging.us-east-1", "aws:ec2/vpc:Vpc", "staging-us-east-1-vpc")]
        )

    # THEN the error names both stacks, the URN the destination holds, and the way out
    message = str(caught.value)
    assert caught.value.kind == "failed" and caught.value.stack == "staging.us-east-1"
    assert (
        f"`pulumi state move` from organization/{PROJECT}/staging.us-east-1 to organization/{PROJECT}/"
        f"staging.us-west-2 moved nothing: organization/{PROJECT}/staging.us-west-2 already holds {what} {held}"
    ) in message
    assert fix in message


def test_move_resources_refuses_urns_of_another_stack_before_running_the_cli(
    staging: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN a URN of the secondary passed as if it were the primary's
    runner = make_runner(staging, fake, project)
    primary, secondary = (
        stack_by_name(staging, "staging.us-east-1"),
        stack_by_name(staging, "staging.us-west-2"),
    )
    foreign = urn("staging.us-west-2", "aws:ec2/vpc:Vpc", "staging-us-west-2-vpc")

    # WHEN it is moved, or nothing is, or a stack is moved onto itself
    with pytest.raises(StackOperationError) as wrong_stack:
        runner.move_resources(primary, secondary, [foreign])
    with pytest.raises(StackOperationError) as nothing:
        runner.move_resources(primary, secondary, [])
    with pytest.raises(StackOperationError) as itself:
        runner.move_resources(primary, primary, [urn("staging.us-east-1", "aws:ec2/vpc:Vpc", "v")])

    # THEN each says what is wrong and how to fix it, and the CLI never ran
    assert foreign in str(wrong_stack.value) and "--show-urns" in str(wrong_stack.value)
    assert "at least one URN" in str(nothing.value)
    assert "same stack" in str(itself.value)
    assert fake.commands("state") == []


def test_missing_urn_in_state_move_is_a_failed_operation_with_the_cli_reason(
    staging: Environment, fake: FakePulumi, project: Path
) -> None:
    # GIVEN both stacks deployed
    runner = make_runner(staging, fake, project)
    primary, secondary = (
        stack_by_name(staging, "staging.us-east-1"),
        stack_by_name(staging, "staging.us-west-2"),
    )
    runner.up(primary, stack_config(staging, primary, {}), Progress())
    runner.up(
        secondary,
        stack_config(staging, secondary, {"staging.us-east-1": primary_outputs(staging)}),
        Progress(),
    )
    absent = urn("staging.us-east-1", "aws:ec2/vpc:Vpc", "no-such-vpc")

    # WHEN a URN the source doesn't hold is moved
    with pytest.raises(StackOperationError) as caught:
        runner.move_resources(primary, secondary, [absent])

    # THEN the CLI's reason is reported against the source stack
    assert caught.value.kind == "failed" and caught.value.stack == "staging.us-east-1"
    assert absent in str(caught.value)


def test_fake_cli_rejects_commands_it_does_not_know(fake: FakePulumi) -> None:
    # The fake must fail loudly rather than answer something the SDK would misparse.
    with pytest.raises(AssertionError, match="does not know"):
        fake.backend["x"] = FakeStack()
        fake.run(["stack", "export", "--stack", "x"], "/", {})
