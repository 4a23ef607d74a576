"""The real Pulumi engine for the real-engine test tier (built by `make engine`).

`make engine` builds the CLI and its Python language host from the Go module proxy at the
versions pinned in tools/engine/ and links them into ``.tools/pulumi``. This module finds
them, checks that ``pulumi version`` answers the pin, and prepares a process environment
that keeps the engine offline: a private ``PULUMI_HOME``, automatic plugin acquisition and
update checks off, a throwaway passphrase, and the test interpreter (the project's venv,
which has the Python SDK) as the Python the language host and dynamic providers run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.paths import ROOT as REPO_ROOT

TOOLS_DIR = REPO_ROOT / ".tools" / "pulumi"
ENGINE_MODULE = REPO_ROOT / "tools" / "engine"
FIXTURE_PROJECT = REPO_ROOT / "tests" / "fixtures" / "real_engine_project"
POLICY_PACK = REPO_ROOT / "policy"
PASSPHRASE = "real-engine-tier-throwaway-passphrase"
BINARIES = (
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-resource-pulumi-python",
)


def _pinned(go_mod: Path, module: str) -> str:
    for line in go_mod.read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == module:
            return words[1]
    raise LookupError(f"{go_mod} does not require {module}")


def pinned_cli_version() -> str:
    return _pinned(ENGINE_MODULE / "go.mod", "github.com/pulumi/pulumi/pkg/v3")


def pinned_python_host_version() -> str:
    return _pinned(ENGINE_MODULE / "python-host" / "go.mod", "github.com/pulumi/pulumi/sdk/v3")


def missing_engine_reason() -> str | None:
    """Why the pinned engine can't be used here, or None when it can."""
    absent = [name for name in BINARIES if not os.access(TOOLS_DIR / name, os.X_OK)]
    if absent:
        return f"the real Pulumi engine is not built ({', '.join(absent)} missing in {TOOLS_DIR}): run `make engine`"
    pin = pinned_cli_version()
    try:
        answered = subprocess.run(
            [str(TOOLS_DIR / "pulumi"), "version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`{TOOLS_DIR / 'pulumi'} version` failed ({exc}): run `make engine`"
    if answered != pin:
        return f"{TOOLS_DIR / 'pulumi'} answers `pulumi version` with {answered!r}, not the pin {pin}: run `make engine`"
    return None


def engine_environment(home: Path) -> dict[str, str]:
    """Variables for the engine's processes: offline, private home, the venv's Python."""
    return {
        "PATH": os.pathsep.join(
            [str(TOOLS_DIR), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        ),
        "PULUMI_HOME": str(home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        # The language host built from sdk/v3 3.68 reads the interpreter from here (the CLI no
        # longer passes Pulumi.yaml's virtualenv option on the host's command line); the
        # dynamic provider script falls back to it too.
        "PULUMI_PYTHON_CMD": sys.executable,
    }


def make_project(directory: Path, *, name: str = "aurora-global") -> Path:
    """A copy of the throwaway program, as the project (work dir) the runner drives."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE_PROJECT / "__main__.py", directory / "__main__.py")
    (directory / "Pulumi.yaml").write_text(
        f"name: {name}\n"
        "description: throwaway project of the real-engine test tier\n"
        "runtime:\n"
        "  name: python\n"
        "  options:\n"
        f"    virtualenv: {Path(sys.executable).parent.parent}\n"
    )
    return directory


def policy_pack_launcher(directory: Path) -> Path:
    """An executable that starts the repository's CrossGuard pack (policy/) for `--policy-pack`.

    The 3.274 CLI asks a language host to run a Python pack directory (RunPlugin) in a way the
    3.68 host misreads (it runs the project's program instead of the pack), so the pack is
    handed to the engine as an executable analyzer plugin: the engine starts it with its own
    address, exactly as the language host would have started the pack.
    """
    directory.mkdir(parents=True, exist_ok=True)
    launcher = directory / "aurora-guardrails"
    launcher.write_text(f'#!/bin/sh\nexec "${{PULUMI_PYTHON_CMD:-python3}}" -u {POLICY_PACK} "$@"\n')
    launcher.chmod(0o755)
    return launcher


def cli(
    project: Path, *args: str, check: bool = True, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the pinned CLI in the project (for what the runner doesn't do itself)."""
    result = subprocess.run(
        [str(TOOLS_DIR / "pulumi"), "--non-interactive", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def exported_resources(project: Path, qualified_stack: str) -> list[dict[str, Any]]:
    """The resources of a stack's checkpoint, as `pulumi stack export` prints them."""
    exported = json.loads(cli(project, "stack", "export", "--stack", qualified_stack).stdout)
    return list(exported.get("deployment", {}).get("resources") or [])


@dataclass
class Recorder:
    """A thread-safe progress sink that keeps every event."""

    events: list[tuple[str, str, str, str, str]]

    def __init__(self) -> None:
        import threading

        self.events = []
        self._lock = threading.Lock()

    def __call__(self, event: tuple[str, str, str, str, str]) -> None:
        with self._lock:
            self.events.append(event)

    def statuses(self, name: str) -> list[str]:
        with self._lock:
            return [status for _, _, _, resource, status in self.events if resource == name]


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for child in _children(pid):
        found.extend(_descendants(child))
        found.append(child)
    return found


def _cli_running(verb: str, stack: str) -> int | None:
    """The pid of the `pulumi <verb> ... <stack>` process this test process started, if any."""
    for pid in _children(os.getpid()):
        try:
            argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [w.decode() for w in argv if w]
        if words and Path(words[0]).name == "pulumi" and verb in words and stack in words:
            return pid
    return None


def lock_holders(locks: Path) -> set[int]:
    """The pids named by the lock files in a DIY backend's lock directory for one stack."""
    holders: set[int] = set()
    if not locks.is_dir():
        return holders
    for entry in locks.iterdir():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            holders.add(int(json.loads(entry.read_text())["pid"]))
    return holders


def kill_cli_holding_lock(verb: str, stack: str, locks: Path, *, timeout: float) -> int:
    """SIGKILL the `pulumi <verb> ... <stack>` process this test process started, once it holds
    the stack's lock (a lock file in ``locks`` names its pid).

    That is how an update gets interrupted without a chance to release its lock (a crashed
    CI runner, an OOM kill). Waiting for the lock file alone is not enough: creating the
    stack (`pulumi stack select --create`, before the update starts) takes a short lock of
    its own. Returns the pid. Only this process's own children are looked at.
    """
    held: list[int] = []

    def holding() -> bool:
        pid = _cli_running(verb, stack)
        if pid is not None and pid in lock_holders(locks):
            held.append(pid)
            return True
        return False

    wait_for(holding, timeout=timeout, what=f"a running `pulumi {verb}` for {stack} holding its lock")
    pid = held[-1]
    # Its language host and program go too (children first), as with a lost machine;
    # left alone they would linger until the host's health check notices.
    for child in _descendants(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    return pid
