"""What the rotation function (home region) and the rotation SQL worker (writer's region) exchange.

The rotation function runs outside any VPC and only calls AWS APIs; the SQL step of
``setSecret`` and ``testSecret`` runs in the in-VPC worker of whichever region holds the
writer, through a synchronous Lambda ``Invoke``. The request is plain JSON and carries
the passwords the step needs: Lambda does not log invocation payloads, the call travels
over TLS to the Lambda API, neither function logs its event, and every ``repr`` here
hides the passwords. Errors name users, stages, versions and endpoints, never a password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lambda_src.common.writer import WorkerProtocolError


class SqlProtocolError(WorkerProtocolError):
    """A request or answer between the rotation function and the SQL worker is malformed."""


class SqlStep(StrEnum):
    SET = "setSecret"
    TEST = "testSecret"


@dataclass(frozen=True, kw_only=True)
class Login:
    """A version that may still log in: its stage and password."""

    stage: str
    password: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class SqlRequest:
    step: SqlStep
    secret_id: str
    """The secret being rotated, for messages only."""
    version_id: str
    """The AWSPENDING version (the rotation's ClientRequestToken), for messages only."""
    username: str
    dbname: str | None = None
    pending: str = field(repr=False)
    """The AWSPENDING password: the one to set (setSecret) or to test (testSecret)."""
    logins: tuple[Login, ...] = ()
    """setSecret: the versions to log in with when the pending one does not work yet, in order
    (AWSCURRENT, then AWSPREVIOUS). Empty for testSecret."""

    def to_payload(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "secret_id": self.secret_id,
            "version_id": self.version_id,
            "username": self.username,
            "dbname": self.dbname,
            "pending": self.pending,
            "logins": [{"stage": login.stage, "password": login.password} for login in self.logins],
        }

    @classmethod
    def from_payload(cls, payload: Any) -> SqlRequest:
        if not isinstance(payload, Mapping):
            raise SqlProtocolError(f"SQL request must be a JSON object, got {type(payload).__name__}")
        missing = [
            k for k in ("step", "secret_id", "version_id", "username", "pending") if not payload.get(k)
        ]
        if missing:
            raise SqlProtocolError(f"SQL request lacks {', '.join(missing)}")
        try:
            step = SqlStep(str(payload["step"]))
        except ValueError:
            allowed = ", ".join(s.value for s in SqlStep)
            raise SqlProtocolError(f"'step' must be one of {allowed}; got {payload['step']!r}") from None
        logins = payload.get("logins") or []
        if not isinstance(logins, list) or not all(
            isinstance(x, Mapping) and x.get("stage") and x.get("password") for x in logins
        ):
            raise SqlProtocolError("'logins' must be a list of objects with 'stage' and 'password'")
        return cls(
            step=step,
            secret_id=str(payload["secret_id"]),
            version_id=str(payload["version_id"]),
            username=str(payload["username"]),
            dbname=str(payload["dbname"]) if payload.get("dbname") else None,
            pending=str(payload["pending"]),
            logins=tuple(Login(stage=str(x["stage"]), password=str(x["password"])) for x in logins),
        )


@dataclass(frozen=True, kw_only=True)
class SqlResult:
    """The worker's answer: what it did, where, and as whom (never a password)."""

    step: SqlStep
    result: str
    """``password_set``, ``already_set`` or ``tested``."""
    region: str
    """The worker's region (the writer's, when it ran)."""
    account: str | None = None
    """The account the server authenticated (``user@host``)."""
    logged_in_with: str | None = None
    """setSecret: the stage whose password logged in to change it."""

    def to_payload(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "result": self.result,
            "region": self.region,
            "account": self.account,
            "logged_in_with": self.logged_in_with,
        }

    @classmethod
    def from_payload(cls, payload: Any) -> SqlResult:
        if not isinstance(payload, Mapping) or not payload.get("result") or not payload.get("step"):
            raise SqlProtocolError(
                f"SQL worker answer must be an object with 'step' and 'result'; got {payload!r}"
            )
        try:
            step = SqlStep(str(payload["step"]))
        except ValueError:
            raise SqlProtocolError(f"SQL worker answered for an unknown step {payload['step']!r}") from None
        return cls(
            step=step,
            result=str(payload["result"]),
            region=str(payload.get("region") or ""),
            account=payload.get("account"),
            logged_in_with=payload.get("logged_in_with"),
        )
