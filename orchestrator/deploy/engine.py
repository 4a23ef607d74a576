"""Orchestration: dependency order, parallel waves, output feeding, failure handling, resume,
reverse-order destroy. The same code drives the in-process runner and the Automation API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from model import aws_rules
from model.aws_rules import RuleViolation
from model.environment import Environment, needs_embedded_definition
from model.topology import (
    MissingUpstreamOutput,
    StackSpec,
    stack_by_name,
    stack_config,
    stacks_for,
    waves,
)
from orchestrator.deploy.runner import ProgressEvent, StackOperationError, StackResult, StackRunner

ENV_TAG = "aurora:environment"
ROLE_TAG = "aurora:role"
EXPIRES_TAG = "aurora:expires-at"
POLICY_TAG = "aurora:deletion-policy"


class LiveView(Protocol):
    """Read-only facts about the deployed environment (boto3 in real runs)."""

    def writer_region(self, env: Environment) -> str | None: ...

    # Optional: ``engine_version(env) -> str | None``, the running engine version (None: not
    # deployed); when a view offers it, `infra up` refuses downgrades and unallowed major upgrades.


class EngineMoveRefusedError(Exception):
    """The file's engine_version is a move AWS or the product refuses from the running version."""

    def __init__(self, env: Environment, violation: RuleViolation) -> None:
        self.violation = violation
        super().__init__(
            f"{violation.render()} Nothing was deployed; check the move with "
            f"`infra upgrade check --env {env.name} --to {env.database.engine_version}`."
        )


class Interrupted(Exception):
    def __init__(self, running: list[str]) -> None:
        self.running = running
        super().__init__(
            f"interrupted; cancelled the running stack operations ({', '.join(running) or 'none'}). "
            "Re-run the same command to resume: finished stacks are not redone."
        )


@dataclass
class RunReport:
    env: str
    operation: str
    results: list[StackResult] = field(default_factory=list)
    failure: StackOperationError | None = None
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    home_region: str | None = None
    """The environment's home region: it owns the global cluster, secrets and keys."""
    writer_region: str | None = None
    """Where the writer was when the run started (None: not checked, or nothing deployed yet)."""

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "operation": self.operation,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "stacks": [r.to_json() for r in self.results],
            "failed": None
            if self.failure is None
            else {
                "stack": self.failure.stack,
                "resource": self.failure.resource,
                "kind": self.failure.kind,
                "message": str(self.failure),
            },
            "skipped": self.skipped,
            "home_region": self.home_region,
            "writer_region": self.writer_region,
        }


Progress = Callable[[ProgressEvent], None]


def _ignore(_: ProgressEvent) -> None:
    return None


class Orchestrator:
    def __init__(
        self,
        env: Environment,
        runner: StackRunner,
        *,
        progress: Progress = _ignore,
        live: LiveView | None = None,
        max_parallel: int = 8,
        extra_tags: Mapping[str, str] | None = None,
        notice: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.env = env
        self.runner = runner
        self.progress = progress
        self.live = live
        self.notice = notice
        self.max_parallel = max_parallel
        self.extra_tags = dict(extra_tags or {})
        self._running: set[str] = set()
        self._running_lock = threading.Lock()

    # --- helpers ---------------------------------------------------------------------------

    @property
    def embed_definition(self) -> bool:
        """Environments that are not checked in (ephemeral ones) travel inside stack config."""
        return needs_embedded_definition(self.env)

    def stack_tags(self, spec: StackSpec) -> dict[str, str]:
        tags = {ENV_TAG: self.env.name, ROLE_TAG: spec.role.value, POLICY_TAG: self.env.deletion_policy.value}
        if self.env.expires_at:
            tags[EXPIRES_TAG] = self.env.expires_at
        return {**self.extra_tags, **tags}

    def check_engine_move(self) -> None:
        """The provider upgrades through the global cluster and tries a major upgrade first
        (terraform-provider-aws rds_global_cluster): the product's rules must hold before it runs."""
        read = getattr(self.live, "engine_version", None)
        if read is None:
            return
        running = read(self.env)
        if running is None:
            return
        try:
            aws_rules.check_engine_upgrade(
                "database.engine_version",
                running,
                self.env.database.engine_version,
                allow_major=self.env.database.allow_major_upgrade,
                global_database=self.env.is_global,
            )
        except RuleViolation as exc:
            raise EngineMoveRefusedError(self.env, exc) from None

    def locate_writer(self) -> str | None:
        """Where the writer is now, reported; never a reason to stop or to change anything.

        Ownership stays with the home region whatever the writer does (DESIGN.md 4b), and no
        program depends on the writer's location, so a moved writer means nothing to change.
        A global cluster in the middle of a switchover or failover raises the live view's
        WriterInTransitionError: the caller refuses to deploy until it has settled.
        """
        if self.live is None or not self.env.is_global:
            return None
        region = self.live.writer_region(self.env)
        if region is not None and region != self.env.primary_region:
            self.notice(
                f"the writer of {self.env.name} is in {region}; its home region (owner of the global "
                f"cluster, secrets and keys) is {self.env.primary_region}. The stacks don't depend on "
                "where the writer is: proceeding. Fail back with "
                f"`infra failover --env {self.env.name} --to {self.env.primary_region}` when you want to."
            )
        return region

    def _upstream_from_backend(self, spec: StackSpec) -> dict[str, dict[str, Any]]:
        upstream: dict[str, dict[str, Any]] = {}
        for dep in spec.depends_on:
            info = self.runner.info(stack_by_name(self.env, dep))
            if not info.exists:
                raise StackOperationError(
                    spec.name,
                    f"it needs the outputs of {dep}, which does not exist in the backend; run "
                    f"`infra up --env {self.env.name}` (or `--target-stack {dep}`) first",
                    kind="missing",
                )
            upstream[dep] = info.outputs
        return upstream

    def _run_waves(
        self,
        operation: str,
        plan: list[list[StackSpec]],
        step: Callable[[StackSpec, Mapping[str, Mapping[str, Any]]], StackResult],
        upstream: dict[str, dict[str, Any]],
    ) -> RunReport:
        report = RunReport(env=self.env.name, operation=operation)
        started = time.monotonic()
        for index, wave in enumerate(plan):
            results, failure = self._run_wave(wave, step, upstream)
            report.results.extend(results)
            for result in results:
                upstream[result.stack] = result.outputs
            if failure is not None:
                report.failure = failure
                report.skipped = [s.name for later in plan[index + 1 :] for s in later]
                break
        report.seconds = time.monotonic() - started
        return report

    def _run_wave(
        self,
        wave: list[StackSpec],
        step: Callable[[StackSpec, Mapping[str, Mapping[str, Any]]], StackResult],
        upstream: Mapping[str, Mapping[str, Any]],
    ) -> tuple[list[StackResult], StackOperationError | None]:
        results: list[StackResult] = []
        failure: StackOperationError | None = None
        snapshot = {k: dict(v) for k, v in upstream.items()}

        def run(spec: StackSpec) -> StackResult:
            with self._running_lock:
                self._running.add(spec.name)
            try:
                return step(spec, snapshot)
            finally:
                with self._running_lock:
                    self._running.discard(spec.name)

        # One thread per stack of the wave: a stack waits on AWS, not on the CPU.
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_parallel, len(wave)))) as pool:
            futures: dict[Future[StackResult], StackSpec] = {pool.submit(run, spec): spec for spec in wave}
            try:
                wait(futures, return_when=FIRST_EXCEPTION)
                # A failure stops the run after this wave; stacks already running finish (their
                # updates can't be abandoned halfway safely), none of the next wave start.
                wait(futures)
            except KeyboardInterrupt:
                with self._running_lock:
                    running = sorted(self._running)
                for name in running:
                    self.runner.cancel(stack_by_name(self.env, name))
                raise Interrupted(running) from None
            for future, spec in futures.items():
                exc = future.exception()
                if exc is None:
                    results.append(future.result())
                elif failure is None:
                    failure = (
                        exc
                        if isinstance(exc, StackOperationError)
                        else StackOperationError(spec.name, f"{type(exc).__name__}: {exc}")
                    )
        order = {spec.name: i for i, spec in enumerate(wave)}
        results.sort(key=lambda r: order[r.stack])
        return results, failure

    # --- operations --------------------------------------------------------------------------

    def up(self, *, target_stack: str | None = None, refresh: bool = False) -> RunReport:
        return self._deploy("up", target_stack=target_stack, refresh=refresh)

    def preview(self, *, target_stack: str | None = None) -> RunReport:
        return self._deploy("preview", target_stack=target_stack)

    def _deploy(self, operation: str, *, target_stack: str | None = None, refresh: bool = False) -> RunReport:
        writer_region = self.locate_writer()
        self.check_engine_move()
        embed = self.embed_definition

        def step(spec: StackSpec, upstream: Mapping[str, Mapping[str, Any]]) -> StackResult:
            try:
                config = stack_config(self.env, spec, upstream, embed_definition=embed)
            except MissingUpstreamOutput as exc:
                if operation != "preview":
                    raise StackOperationError(spec.name, str(exc), kind="missing") from None
                # A preview creates no outputs: a stack whose upstream was never deployed can't
                # be previewed yet. Say so instead of failing the whole preview.
                return StackResult(spec.name, "preview", note=f"not previewed: {exc}")
            if operation == "preview":
                return self.runner.preview(spec, config, self.progress)
            return self.runner.up(spec, config, self.progress, refresh=refresh, tags=self.stack_tags(spec))

        if target_stack is not None:
            spec = stack_by_name(self.env, target_stack)
            try:
                upstream = self._upstream_from_backend(spec)
            except StackOperationError as exc:
                report = RunReport(env=self.env.name, operation=operation, failure=exc)
            else:
                report = self._run_waves(operation, [[spec]], step, upstream)
        else:
            report = self._run_waves(operation, waves(stacks_for(self.env)), step, {})
        report.home_region = self.env.primary_region
        report.writer_region = writer_region
        return report

    def destroy(self) -> RunReport:
        """DNS first, then every secondary (they leave the global cluster), then the primary
        (the global cluster goes last). Stacks that don't exist are skipped quietly."""

        def step(spec: StackSpec, _: Mapping[str, Mapping[str, Any]]) -> StackResult:
            if not self.runner.info(spec).exists:
                return StackResult(spec.name, "destroy", changes={"delete": 0})
            return self.runner.destroy(spec, self.progress)

        return self._run_waves("destroy", list(reversed(waves(stacks_for(self.env)))), step, {})
