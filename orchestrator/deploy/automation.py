"""The Automation API runner: real deployments through the Pulumi CLI.

This is the only module that imports ``pulumi.automation``. It runs the project's own
program (``Pulumi.yaml`` and ``__main__.py`` in the project directory are the work dir) for
stacks named ``<env>.<region>`` and ``<env>.dns``, against the environment's state backend
and secrets provider, and implements :class:`orchestrator.deploy.runner.StackRunner`.

Parallel stacks share one work dir. Selecting a stack and writing its config and tags
rewrite workspace files (``Pulumi.<stack>.yaml``, the CLI's current-stack record), so that
setup is serialised by one lock per runner; ``up``/``preview``/``destroy`` pass ``--stack``
and run concurrently. Engine events arrive on worker threads and are forwarded to the
progress sink, which must be thread-safe.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation import errors as auto_errors
from pulumi.automation.events import EngineEvent, OpType, StepEventMetadata
from semver import VersionInfo

from model.environment import PROJECT_NAME, PROJECT_ROOT, Environment
from model.topology import CONFIG_NAMESPACE, Role, StackSpec, encode_config
from orchestrator.deploy.runner import ProgressSink, StackInfo, StackOperationError, StackResult

LOCAL_STATE_DIR = ".pulumi-state"
# Self-managed (DIY) backends name stacks organization/<project>/<stack>; the literal
# "organization" is what the CLI expects there. Pulumi Cloud resolves short names itself.
DIY_ORGANIZATION = "organization"
# Stack tags (expiry and role of ephemeral stacks) persist in self-managed backends from 3.211 on;
# older CLIs accept `stack tag set` there and drop it.
MINIMUM_CLI_VERSION = "3.211.0"
_DIY_SCHEMES = ("file://", "s3://", "gs://", "azblob://")


def aws_plugin_version() -> str:
    # The plugin must match the provider SDK the program imports (pinned in pyproject.toml).
    try:
        return importlib.metadata.version("pulumi_aws")
    except importlib.metadata.PackageNotFoundError:
        return "7.51.1"


def install_hint() -> str:
    return (
        "install the Pulumi CLI (pulumi.com/docs/install) and the aws plugin "
        f"(`pulumi plugin install resource aws {aws_plugin_version()}`); "
        "`infra plan` needs neither"
    )


def _print_notice(text: str) -> None:
    print(f"notice: {text}", file=sys.stderr)


# --- Engine events -> progress ----------------------------------------------------------------

_IN_PROGRESS = {
    OpType.CREATE: "creating",
    OpType.UPDATE: "updating",
    OpType.DELETE: "deleting",
    OpType.REPLACE: "replacing",
    OpType.CREATE_REPLACEMENT: "replacing",
    OpType.DELETE_REPLACED: "deleting",
    OpType.READ: "reading",
    OpType.REFRESH: "refreshing",
    OpType.IMPORT: "importing",
}
_DONE = {
    OpType.SAME: "same",
    OpType.CREATE: "created",
    OpType.UPDATE: "updated",
    OpType.DELETE: "deleted",
    OpType.REPLACE: "replaced",
    OpType.CREATE_REPLACEMENT: "replaced",
    OpType.DELETE_REPLACED: "deleted",
    OpType.READ: "read",
    OpType.REFRESH: "refreshed",
    OpType.IMPORT: "imported",
}
_STACK_TYPE = "pulumi:pulumi:Stack"


def resource_name(urn: str) -> str:
    """'urn:pulumi:dev.us-east-1::aurora-global::aws:rds/cluster:Cluster::dev-cluster' -> 'dev-cluster'."""
    return urn.rsplit("::", 1)[-1] if urn else ""


def resource_type(urn: str) -> str:
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


class EventTracker:
    """Turns one stack operation's engine events into progress events and remembers what failed.

    The engine reports a failing step as a ``resOpFailedEvent`` preceded by an error
    diagnostic on the same URN; both are kept to name the resource and say why.
    """

    def __init__(self, stack: str, operation: str, progress: ProgressSink) -> None:
        self.stack = stack
        self.operation = operation
        self.progress = progress
        self.failed_urn: str | None = None
        self.failed_type: str | None = None
        self.errors: list[tuple[str | None, str]] = []  # (urn, message) of error diagnostics
        self._lock = threading.Lock()

    def __call__(self, event: EngineEvent) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            if event.resource_pre_event.planning:
                if meta.op is not OpType.SAME:
                    self._emit(meta, meta.op.value)
            elif meta.op in _IN_PROGRESS:
                self._emit(meta, _IN_PROGRESS[meta.op])
        elif event.res_outputs_event is not None:
            meta = event.res_outputs_event.metadata
            if not event.res_outputs_event.planning:
                self._emit(meta, _DONE.get(meta.op, meta.op.value))
        elif event.res_op_failed_event is not None:
            meta = event.res_op_failed_event.metadata
            with self._lock:
                if self.failed_urn is None and meta.type != _STACK_TYPE:
                    self.failed_urn, self.failed_type = meta.urn, meta.type
            self._emit(meta, "failed")
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if diag.severity not in ("error", "warning"):
                return
            if diag.severity == "error":
                with self._lock:
                    self.errors.append((diag.urn, _clean(diag.message)))
            if diag.urn:
                self.progress((self.stack, self.operation, resource_type(diag.urn), resource_name(diag.urn),
                               diag.severity))  # fmt: skip

    def _emit(self, meta: StepEventMetadata, status: str) -> None:
        self.progress((self.stack, self.operation, meta.type, resource_name(meta.urn), status))

    def failure(self) -> tuple[str | None, str | None]:
        """(failing resource as 'name (type)', its error message), from the events seen."""
        with self._lock:
            urn, typ = self.failed_urn, self.failed_type
            errors = list(self.errors)
        if urn is None:
            for diag_urn, _ in errors:
                if diag_urn and resource_type(diag_urn) != _STACK_TYPE:
                    urn, typ = diag_urn, resource_type(diag_urn)
                    break
        message = next((m for u, m in errors if urn is not None and u == urn), None)
        if message is None:
            message = next((m for _, m in errors if m), None)
        resource = f"{resource_name(urn)} ({typ or resource_type(urn)})" if urn else None
        return resource, message


def _clean(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    text = " ".join(lines)
    return text[:800]


# --- Errors -----------------------------------------------------------------------------------

# A self-managed backend's lock line: "<backend URL>/.pulumi/locks/.../<id>.json[?<backend query>]: created
# by user@host (pid N) at <time>" (the CLI puts the backend URL's query, e.g. ?region=... or
# ?no_tmp_dir=true for file://, after the lock file's path).
_LOCK_HOLDER = re.compile(
    r"(?P<file>\S+?\.json)(?:\?\S*)?: created by (?P<who>.+?) \(pid (?P<pid>\d+)\) at (?P<at>\S+)"
)
_PLUGIN_MISSING = re.compile(r"no resource plugin|could not find (the )?plugin|plugin .* not found|"
                             r"failed to (load|install) (resource )?plugin", re.I)  # fmt: skip
_PASSPHRASE = re.compile(r"passphrase", re.I)
_BACKEND = re.compile(
    r"pulumi login|PULUMI_ACCESS_TOKEN|unauthorized|\b40[13]\b|failed to get credentials|"
    r"NoCredentialProviders|no valid credential|"
    r"could not (open|load|read|reach|connect)[^\n]*(bucket|backend|blob|state|api)|"
    r"NoSuchBucket|AccessDenied|InvalidAccessKeyId|ExpiredToken|failed to load checkpoint|"
    r"unable to (open|read) bucket|getting user info|error (logging|getting) in|backend",
    re.I,
)
_CANCELLED = re.compile(r"update (was )?cancel+ed|operation cancel+ed|signal: interrupt|interrupted", re.I)
_VIRTUALENV = re.compile(r"virtualenv|virtual environment", re.I)


def _cli_streams(exc: BaseException) -> tuple[str, str]:
    """(stdout, stderr) of a failed CLI command; CommandError keeps only their rendering."""
    text = str(exc)
    head, sep, stderr = text.rpartition("\n stderr: ")
    if not sep:
        return "", text
    _, _, stdout = head.partition("\n stdout: ")
    return stdout, stderr


def _cli_summary(stdout: str, stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = [line for line in lines if line.lower().startswith("error:")] or lines[-3:]
    if not chosen:
        chosen = [line.strip() for line in stdout.splitlines() if line.strip().lower().startswith("error:")]
    text = "; ".join(dict.fromkeys(chosen)) or "the Pulumi CLI failed without a message"
    return text[:1000]


# --- The runner -------------------------------------------------------------------------------


class AutomationRunner:
    """Runs the environment's stacks through the Pulumi Automation API (local program).

    ``pulumi_command`` defaults to the ``pulumi`` binary on PATH (resolved here, so a missing
    CLI is reported before anything runs, as a :class:`StackOperationError` of kind
    ``missing_cli``). ``notice`` receives one-off notices (e.g. the local backend fallback).
    """

    def __init__(
        self,
        env: Environment,
        *,
        project_dir: Path = PROJECT_ROOT,
        pulumi_command: auto.PulumiCommand | None = None,
        notice: Callable[[str], None] = _print_notice,
    ) -> None:
        self.env = env
        self.project_dir = Path(project_dir).resolve()
        self.notice = notice
        self.command = pulumi_command if pulumi_command is not None else self._find_cli()
        self.backend_url, self.secrets_provider = self._state_settings()
        self.self_managed = self.backend_url.startswith(_DIY_SCHEMES)
        self._setup_lock = threading.Lock()  # workspace files: stack selection, config, tags
        self._stacks: dict[str, auto.Stack] = {}
        self._shared: auto.LocalWorkspace | None = None  # for commands that name no stack to select

    # --- setup ------------------------------------------------------------------------------

    def _find_cli(self) -> auto.PulumiCommand:
        where = f"{self.env.name}.*"
        try:
            return auto.PulumiCommand(version=VersionInfo.parse(MINIMUM_CLI_VERSION))
        except FileNotFoundError:
            raise StackOperationError(where, f"the `pulumi` binary is not on PATH: {install_hint()}",
                                      kind="missing_cli") from None  # fmt: skip
        except auto_errors.InvalidVersionError as exc:
            raise StackOperationError(where, f"{exc} Upgrade the Pulumi CLI (pulumi.com/docs/install).",
                                      kind="missing_cli") from None  # fmt: skip
        except (OSError, subprocess.CalledProcessError) as exc:
            raise StackOperationError(where, f"`pulumi version` failed ({exc}): {install_hint()}",
                                      kind="missing_cli") from None  # fmt: skip

    def _state_settings(self) -> tuple[str, str | None]:
        state = self.env.state
        if state.backend_url:
            return state.backend_url, state.secrets_provider
        directory = self.project_dir / LOCAL_STATE_DIR
        first_time = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        url = f"file://{directory}"
        env_file = f"environments/{self.env.name}.yaml"
        if first_time:
            self.notice(
                f"no state backend is configured for environment {self.env.name}: using a local file backend "
                f"in {directory} (first-time setup; the state stays on this machine). To share state, set "
                f"state.backend_url in {env_file} (e.g. s3://my-pulumi-state/aurora?region=us-east-1) and "
                f"state.secrets_provider (e.g. awskms://alias/pulumi-{self.env.name}?region=us-east-1). "
                "Until then the stacks' secrets use a passphrase: export PULUMI_CONFIG_PASSPHRASE "
                "(or PULUMI_CONFIG_PASSPHRASE_FILE) before running infra."
            )
        else:
            self.notice(
                f"state of {self.env.name} is in the local file backend {directory} (no state.backend_url in "
                f"{env_file}); the passphrase secrets provider needs PULUMI_CONFIG_PASSPHRASE."
            )
        return url, state.secrets_provider

    def qualified_name(self, stack: str) -> str:
        """The name the backend knows the stack by (organization/<project>/<stack> when self-managed)."""
        short = stack.rsplit("/", 1)[-1]
        return f"{DIY_ORGANIZATION}/{PROJECT_NAME}/{short}" if self.self_managed else short

    def _env_vars(self) -> dict[str, str]:
        return {"PULUMI_BACKEND_URL": self.backend_url, "PULUMI_SKIP_UPDATE_CHECK": "true"}

    def _workspace(self) -> auto.LocalWorkspace:
        # The project directory is the work dir: the CLI runs its Pulumi.yaml and __main__.py.
        return auto.LocalWorkspace(
            work_dir=str(self.project_dir),
            env_vars=self._env_vars(),
            secrets_provider=self.secrets_provider,
            pulumi_command=self.command,
        )

    def _shared_workspace(self) -> auto.LocalWorkspace:
        with self._setup_lock:
            if self._shared is None:
                self._shared = self._workspace()
            return self._shared

    def _open(self, spec: StackSpec, *, create: bool) -> auto.Stack:
        """The stack's Stack object (one workspace per stack); callers hold the setup lock."""
        stack = self._stacks.get(spec.name)
        if stack is not None:
            return stack
        name = self.qualified_name(spec.name)
        if create:
            try:
                stack = auto.Stack.create_or_select(name, self._workspace())
            except auto_errors.StackAlreadyExistsError:
                # Another process created it between our select and init.
                stack = auto.Stack.select(name, self._workspace())
        else:
            stack = auto.Stack.select(name, self._workspace())
        self._stacks[spec.name] = stack
        return stack

    def _prepare(
        self, spec: StackSpec, config: Mapping[str, Any], tags: Mapping[str, str] | None
    ) -> auto.Stack:
        """Select or create the stack and persist its config (Pulumi.<stack>.yaml) and tags.

        A value given as an ``auto.ConfigValue`` is written as it is (``secret=True`` makes the
        CLI encrypt it with the stack's secrets provider); anything else is plain data,
        structured values as JSON.
        """
        given = {key: value for key, value in config.items() if isinstance(value, auto.ConfigValue)}
        encoded: dict[str, auto.ConfigValue] = {
            key: auto.ConfigValue(value=value)
            for key, value in encode_config({k: v for k, v in config.items() if k not in given}).items()
        }
        encoded.update(given)
        with self._setup_lock:
            stack = self._open(spec, create=True)
            stale = [
                key
                for key in stack.get_all_config()
                if key.startswith(f"{CONFIG_NAMESPACE}:") and key not in encoded
            ]
            if stale:
                stack.remove_all_config(stale)
            stack.set_all_config(encoded)
            if tags:
                current = stack.list_tags()
                for key, value in tags.items():
                    if current.get(key) != value:
                        stack.set_tag(key, value)
        return stack

    # --- errors -------------------------------------------------------------------------------

    def _lock_message(self, spec: StackSpec, text: str) -> str:
        match = _LOCK_HOLDER.search(text)
        if match:
            holder = f"{match['who']} (pid {match['pid']}) since {match['at']}, lock file {match['file']}"
        elif "409" in text:
            holder = "another update in Pulumi Cloud (see the stack's activity page)"
        else:
            holder = "another update (the CLI did not say which)"
        return (
            f"the stack is locked by {holder}. If that update is still running, wait for it to finish and "
            "re-run. If it was interrupted (a stale lock), clear it with "
            f"`PULUMI_BACKEND_URL={self.backend_url} pulumi cancel --yes --stack "
            f"{self.qualified_name(spec.name)}` in {self.project_dir}, then re-run the same infra command: "
            "finished stacks are not redone."
        )

    def _error(
        self, spec: StackSpec, exc: BaseException, tracker: EventTracker | None = None
    ) -> StackOperationError:
        if isinstance(exc, StackOperationError):
            return exc
        name = spec.name
        if isinstance(exc, auto_errors.ConcurrentUpdateError):
            return StackOperationError(name, self._lock_message(spec, str(exc)), kind="locked")
        if isinstance(exc, auto_errors.StackNotFoundError):
            return StackOperationError(
                name,
                f"the stack {self.qualified_name(name)} does not exist in the backend {self.backend_url}; "
                f"deploy it first (`infra up --env {spec.env}`)",
                kind="missing",
            )
        if isinstance(exc, auto_errors.CommandError):
            stdout, stderr = _cli_streams(exc)
            resource, reason = tracker.failure() if tracker is not None else (None, None)
            summary = _cli_summary(stdout, stderr)
            if _PLUGIN_MISSING.search(stderr) or _PLUGIN_MISSING.search(reason or ""):
                return StackOperationError(name, f"{reason or summary}: {install_hint()}", kind="missing_cli")
            if resource is not None:
                return StackOperationError(name, reason or summary, resource=resource, kind="failed")
            if _PASSPHRASE.search(stderr):
                return StackOperationError(
                    name,
                    f"{summary}. The stacks use a passphrase secrets provider: export "
                    "PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE), or set "
                    f"state.secrets_provider (e.g. awskms://...) in environments/{spec.env}.yaml",
                    kind="backend",
                )
            if _BACKEND.search(stderr):
                return StackOperationError(
                    name,
                    f"{summary}. The state backend {self.backend_url} could not be used: check "
                    f"state.backend_url in environments/{spec.env}.yaml and the credentials for it "
                    "(AWS credentials for s3://, PULUMI_ACCESS_TOKEN for Pulumi Cloud)",
                    kind="backend",
                )
            if _CANCELLED.search(stderr):
                return StackOperationError(
                    name, f"{summary}; re-run the same command to resume", kind="cancelled"
                )
            if _VIRTUALENV.search(stderr) or _VIRTUALENV.search(stdout):
                return StackOperationError(
                    name,
                    f"{reason or summary}. The program's virtualenv is missing or broken: run "
                    f"`pulumi install` in {self.project_dir} (Pulumi.yaml uses .venv)",
                    kind="failed",
                )
            return StackOperationError(name, reason or summary, kind="failed")
        if isinstance(exc, FileNotFoundError):
            return StackOperationError(name, f"{exc}: {install_hint()}", kind="missing_cli")
        return StackOperationError(name, f"{type(exc).__name__}: {exc}", kind="failed")

    # --- StackRunner ----------------------------------------------------------------------------

    def up(
        self,
        spec: StackSpec,
        config: Mapping[str, Any],
        progress: ProgressSink,
        *,
        refresh: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> StackResult:
        started = time.monotonic()
        tracker = EventTracker(spec.name, "up", progress)
        try:
            stack = self._prepare(spec, config, tags)
            result = stack.up(
                on_event=tracker,
                refresh=refresh or None,
                color="never",
                message=f"infra up --env {spec.env}",
            )
        except Exception as exc:
            raise self._error(spec, exc, tracker) from exc
        return StackResult(
            spec.name,
            "up",
            outputs={key: output.value for key, output in result.outputs.items()},
            changes=_changes(result.summary.resource_changes),
            seconds=time.monotonic() - started,
        )

    def preview(self, spec: StackSpec, config: Mapping[str, Any], progress: ProgressSink) -> StackResult:
        """Preview with the given config (persisted, so `pulumi preview --stack` agrees).

        A preview knows no new output values, so the result carries the stack's current
        outputs: what the stacks that depend on it would be fed today.
        """
        started = time.monotonic()
        tracker = EventTracker(spec.name, "preview", progress)
        try:
            stack = self._prepare(spec, config, None)
            result = stack.preview(on_event=tracker, color="never", message=f"infra preview --env {spec.env}")
            outputs = {key: output.value for key, output in stack.outputs().items()}
        except Exception as exc:
            raise self._error(spec, exc, tracker) from exc
        return StackResult(
            spec.name,
            "preview",
            outputs=outputs,
            changes=_changes(result.change_summary),
            seconds=time.monotonic() - started,
        )

    def destroy(self, spec: StackSpec, progress: ProgressSink) -> StackResult:
        """Delete every resource of the stack; the stack (history, config, tags) stays.

        A stack that is not in the backend has nothing to destroy: a re-run after a
        partly finished destroy passes over it.
        """
        started = time.monotonic()
        tracker = EventTracker(spec.name, "destroy", progress)
        try:
            with self._setup_lock:
                stack = self._open(spec, create=False)
            result = stack.destroy(on_event=tracker, color="never", message=f"infra destroy --env {spec.env}")
        except auto_errors.StackNotFoundError:
            return StackResult(
                spec.name, "destroy", changes={"delete": 0}, seconds=time.monotonic() - started
            )
        except Exception as exc:
            raise self._error(spec, exc, tracker) from exc
        return StackResult(
            spec.name,
            "destroy",
            changes=_changes(result.summary.resource_changes),
            seconds=time.monotonic() - started,
        )

    def remove(self, spec: StackSpec) -> None:
        """Remove an empty stack from the backend (and its Pulumi.<stack>.yaml), e.g. after a reap."""
        workspace = self._shared_workspace()
        try:
            with self._setup_lock:
                workspace.remove_stack(self.qualified_name(spec.name))
                self._stacks.pop(spec.name, None)
        except auto_errors.StackNotFoundError:
            return
        except Exception as exc:
            raise self._error(spec, exc) from exc

    def info(self, spec: StackSpec) -> StackInfo:
        """Existence, resource count, last update, tags and outputs; reads only, selects nothing."""
        workspace = self._shared_workspace()
        name = self.qualified_name(spec.name)
        try:
            summaries = {s.name.rsplit("/", 1)[-1]: s for s in workspace.list_stacks() if self._ours(s.name)}
            summary = summaries.get(spec.name)
            if summary is None:
                return StackInfo(name=spec.name, exists=False)
            outputs = {key: output.value for key, output in workspace.stack_outputs(name).items()}
            tags = dict(workspace.list_tags(name))
        except auto_errors.StackNotFoundError:
            return StackInfo(name=spec.name, exists=False)
        except Exception as exc:
            raise self._error(spec, exc) from exc
        return StackInfo(
            name=spec.name,
            exists=True,
            resource_count=summary.resource_count or 0,
            last_update=_timestamp(summary.last_update),
            tags=tags,
            outputs=outputs,
        )

    def cancel(self, spec: StackSpec) -> None:
        """Best effort: cancel the stack's running update (or clear a stale self-managed lock).

        Never raises: it runs while an interrupt is being handled, when the CLI process
        itself has usually stopped already. What could not be cancelled goes to ``notice``.
        """
        try:
            stack = self._stacks.get(spec.name)
            if stack is None:
                with self._setup_lock:
                    stack = self._open(spec, create=False)
            stack.cancel()
        except auto_errors.StackNotFoundError:
            return
        except Exception as exc:
            error = self._error(spec, exc)
            self.notice(f"could not cancel {spec.name}: {error}")

    def move_resources(
        self, source: StackSpec, dest: StackSpec, urns: Sequence[str], *, include_parents: bool = False
    ) -> None:
        """Move resources from one stack's state to another's with `pulumi state move`.

        The resources (and their children) count as unchanged in ``dest`` instead of being
        deleted and re-created; no cloud resource is touched. It changes no program: the
        destination's program must declare them afterwards and the source's must stop
        declaring them, or the next ``up`` undoes the move. ``include_parents`` moves their
        parents too (otherwise a moved resource whose parent stays is re-parented to the
        destination's stack). Both stacks must exist in this runner's backend.
        """
        if not urns:
            raise StackOperationError(
                source.name, "move_resources needs at least one URN to move", kind="failed"
            )
        foreign = [u for u in urns if _urn_stack(u) != source.name]
        if foreign:
            raise StackOperationError(
                source.name,
                f"urns must name resources of stack {source.name} (urn:pulumi:{source.name}::...); "
                f"not of it: {', '.join(foreign)}. Take the URNs from `pulumi stack --stack "
                f"{self.qualified_name(source.name)} --show-urns`",
                kind="failed",
            )
        if dest.name == source.name:
            raise StackOperationError(
                source.name,
                f"source and dest are the same stack ({source.name}); pick another dest",
                kind="failed",
            )
        args = [
            "state",
            "move",
            "--source",
            self.qualified_name(source.name),
            "--dest",
            self.qualified_name(dest.name),
            "--yes",
        ]
        if include_parents:
            args.append("--include-parents")
        args.extend(urns)
        try:
            self.command.run(args, str(self.project_dir), self._env_vars())
        except Exception as exc:
            error = self._error(source, exc)
            if "no resources found to move" in str(error):
                # The CLI doesn't say which: name what was asked for.
                raise StackOperationError(
                    source.name,
                    f"{error.args[0].split(': ', 1)[-1]}: none of {', '.join(urns)} is in the state of "
                    f"{self.qualified_name(source.name)} (`pulumi stack --stack {self.qualified_name(source.name)} "
                    "--show-urns` lists what is)",
                    kind="failed",
                ) from exc
            collision = _MOVE_COLLISION.search(str(error))
            if collision is not None:
                raise StackOperationError(
                    source.name, self._collision_message(source, dest, collision), kind="failed"
                ) from exc
            raise error from exc

    def _collision_message(self, source: StackSpec, dest: StackSpec, collision: re.Match[str]) -> str:
        """Why `pulumi state move` refused a URN the destination already holds, and the fix."""
        what, held = collision.group("what"), collision.group("urn")
        src, dst = self.qualified_name(source.name), self.qualified_name(dest.name)
        head = f"`pulumi state move` from {src} to {dst} moved nothing: {dst} already holds {what} {held}"
        if what == "provider":
            return (
                f"{head} with other inputs than the provider of that name in {src}, which the moved "
                "resources use (the move reuses a destination provider of the same URN only when its "
                "inputs are equal). Give the provider the same inputs in both stacks' programs and "
                f"`infra up` them, or give each stack's provider its own name, then move again"
            )
        return (
            f"{head} (a resource is never overwritten: moved before, or created there by its program). "
            f"Compare `pulumi stack --stack {dst} --show-urns` with {src}'s; if both states track the same "
            f"cloud resource, forget one copy with `pulumi state delete --stack <stack> <urn>` (the cloud "
            "resource stays) and leave the kept one out of the move"
        )

    def list_stacks(self) -> list[StackInfo]:
        """Every stack of this project in the backend, with its tags (no outputs: see info)."""
        workspace = self._shared_workspace()
        where = StackSpec(f"{self.env.name}.*", self.env.name, Role.PRIMARY, "", ())
        try:
            summaries = [s for s in workspace.list_stacks() if self._ours(s.name)]
            infos = []
            for summary in sorted(summaries, key=lambda s: s.name):
                short = summary.name.rsplit("/", 1)[-1]
                infos.append(
                    StackInfo(
                        name=short,
                        exists=True,
                        resource_count=summary.resource_count or 0,
                        last_update=_timestamp(summary.last_update),
                        tags=dict(workspace.list_tags(self.qualified_name(short))),
                    )
                )
        except Exception as exc:
            raise self._error(where, exc) from exc
        return infos

    @staticmethod
    def _ours(listed_name: str) -> bool:
        parts = listed_name.split("/")
        return len(parts) < 3 or parts[-2] == PROJECT_NAME


# The CLI's refusals when the destination's state already has a URN being moved (3.274).
_MOVE_COLLISION = re.compile(
    r"(?P<what>provider|resource) (?P<urn>urn:pulumi:\S+) already exists in destination stack"
)


def _urn_stack(urn: str) -> str:
    """'urn:pulumi:<stack>::<project>::<type>::<name>' -> '<stack>' (short name)."""
    head = urn.split("::", 1)[0]
    return head[len("urn:pulumi:") :] if head.startswith("urn:pulumi:") else ""


def _changes(summary: Mapping[Any, int] | None) -> dict[str, int]:
    return {
        (key.value if isinstance(key, Enum) else str(key)): int(count)
        for key, count in (summary or {}).items()
    }


def _timestamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None
