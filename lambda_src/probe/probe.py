"""One probe attempt and its classification.

``alive``: the heartbeat write committed on the writer. ``dead``: the writer refused or did
not answer for a reason that means it is gone (connect refused or timed out, connection
lost, server shutting down, the endpoint is read-only i.e. no longer the writer) *and* this
probe's own side worked (it read its local replica in the same attempt). Everything else is
``inconclusive``: its own secret unreadable, an authentication or privilege error, TLS
verification failure, name resolution failure, the writer unknown, its own local read
failed while the writer looked dead (its own region or network is the likelier culprit), a
missing schema, any unexpected error. Inconclusive breaks the decider's window and never
counts as dead (FAILURE_CATALOG FC-P-3).
"""

from __future__ import annotations

import socket
import ssl
from typing import Protocol

from lambda_src.common.dberrors import exception_chain, is_timeout, mysql_errno
from lambda_src.common.errors import SecretError
from lambda_src.common.probe_record import Attempt, Verdict
from lambda_src.common.secrets import DbCredentials

# MySQL server error numbers (MySQL 8.0 error reference).
AUTH_ERRORS = frozenset({1044, 1045, 1142, 1143, 1227, 1698})  # access denied, command/column denied
READ_ONLY_ERRORS = frozenset({1290, 1792, 1836})  # --read-only, read-only transaction, read-only mode
GONE_ERRORS = frozenset({1053, 2003, 2006, 2013})  # shutdown, can't connect, gone away, lost connection
SCHEMA_ERRORS = frozenset({1049, 1146})  # unknown database, no such table


def classify_write_error(exc: BaseException) -> tuple[Verdict, str]:
    """The verdict a failed heartbeat write gives, before the own-side check."""
    chain = exception_chain(exc)
    if any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in chain):
        return Verdict.INCONCLUSIVE, "tls_failed"
    errno = mysql_errno(exc)
    if errno in AUTH_ERRORS:
        return Verdict.INCONCLUSIVE, "auth_failed"
    if errno in SCHEMA_ERRORS:
        return Verdict.INCONCLUSIVE, "schema_missing"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return Verdict.INCONCLUSIVE, "name_resolution_failed"
    if errno in READ_ONLY_ERRORS:
        return Verdict.DEAD, "not_writer"
    if is_timeout(exc):
        return Verdict.DEAD, "timeout"
    if errno in GONE_ERRORS or any(isinstance(e, ConnectionError) for e in chain):
        return Verdict.DEAD, "connect_failed"
    return Verdict.INCONCLUSIVE, "unexpected_error"


class ProbeDeps(Protocol):
    """What one attempt talks to; the handler gives real clients, the simulator modelled ones."""

    def credentials(self) -> DbCredentials:
        """The probe user's login (raises SecretError)."""
        ...

    def writer_region(self) -> str:
        """The current writer's region, from this region's RDS API (raises on failure)."""
        ...

    def write_heartbeat(self, writer_region: str, credentials: DbCredentials) -> None:
        """Connect to the writer and commit this region's heartbeat (raises on failure)."""
        ...

    def read_local(self, credentials: DbCredentials) -> float | None:
        """Newest replicated heartbeat on this region's own reader (raises on failure)."""
        ...


def run_attempt(deps: ProbeDeps, *, region: str, at: float) -> tuple[Attempt, str]:
    """One attempt; never raises. Returns the attempt and a detail for the log."""

    def result(
        verdict: Verdict, reason: str, writer: str | None, local_ok: bool, newest: float | None
    ) -> Attempt:
        return Attempt(
            region=region,
            at=at,
            verdict=verdict,
            reason=reason,
            writer_region=writer,
            local_ok=local_ok,
            replica_newest=newest,
        )

    try:
        credentials = deps.credentials()
    except SecretError as exc:
        return result(Verdict.INCONCLUSIVE, "secret_unavailable", None, False, None), str(exc)
    try:
        writer = deps.writer_region()
    # Deliberately broad: not knowing the writer is inconclusive, whatever the cause.
    except Exception as exc:
        return result(
            Verdict.INCONCLUSIVE, "writer_unknown", None, False, None
        ), f"{type(exc).__name__}: {exc}"
    write_error: BaseException | None = None
    try:
        deps.write_heartbeat(writer, credentials)
    except Exception as exc:
        write_error = exc
    local_ok, newest, local_detail = True, None, ""
    try:
        newest = deps.read_local(credentials)
    except Exception as exc:
        local_ok, local_detail = False, f"local read: {type(exc).__name__}: {exc}"
    if write_error is None:
        return result(Verdict.ALIVE, "committed", writer, local_ok, newest), local_detail
    verdict, reason = classify_write_error(write_error)
    detail = f"{type(write_error).__name__}: {write_error}"
    if verdict is Verdict.DEAD and not local_ok:
        # Both the writer and our own replica failed: our side is the likelier culprit.
        return result(
            Verdict.INCONCLUSIVE, f"own_side_impaired:{reason}", writer, False, None
        ), f"{detail}; {local_detail}"
    return result(verdict, reason, writer, local_ok, newest), detail
