"""What the bootstrap function (home region) and the bootstrap worker (writer's region) exchange.

The bootstrap function runs outside any VPC: it reads the master and the users' secrets in
the home region, finds the writer (``lambda_src.common.writer``) and invokes, synchronously,
the in-VPC bootstrap worker of the writer's region with a :class:`BootstrapRequest`. The
request is plain JSON and carries the passwords the worker needs, so the worker has no
Secrets Manager or KMS right: Lambda does not log invocation payloads, the call travels over
TLS to the Lambda API, neither function logs its event, and every ``repr`` here hides the
passwords. The answer is what bootstrap changed (never a password).

The names bootstrap accepts (``validate``) live here too: the function checks them before
it invokes anything, the worker again before it touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_src.common.errors import LambdaCodeError
from lambda_src.common.writer import WorkerProtocolError

ROLE_PRIVILEGES: dict[str, tuple[str, ...]] = {
    "app": ("SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE"),
    "readonly": ("SELECT",),
    "migrator": (
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "ALTER",
        "DROP",
        "INDEX",
        "REFERENCES",
        "CREATE VIEW",
        "SHOW VIEW",
        "TRIGGER",
        "CREATE ROUTINE",
        "ALTER ROUTINE",
        "EXECUTE",
    ),
}
SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
_DATABASE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# MySQL 8 limits user names to 32 characters.
_USER_NAME = re.compile(r"^[A-Za-z0-9_]{1,32}$")


class InvalidBootstrapRequest(LambdaCodeError):
    """The invocation input is malformed (bad database or user name, unknown role)."""


class BootstrapProtocolError(WorkerProtocolError):
    """A request to the bootstrap worker or its answer is malformed."""


@dataclass(frozen=True)
class UserSpec:
    role: str
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password
        return f"UserSpec(role={self.role!r}, username={self.username!r})"


@dataclass(frozen=True, kw_only=True)
class Account:
    """A database account the worker logs in as (master) or converges (probe)."""

    username: str
    password: str = field(repr=False)


def validate(database: str, users: Sequence[UserSpec], *, master_username: str | None = None) -> None:
    """Names the server will accept and roles we know, before touching the database."""
    if not _DATABASE_NAME.match(database) or database.lower() in SYSTEM_SCHEMAS:
        raise InvalidBootstrapRequest(
            f"'database' must be 1-64 letters, digits or _ and not a system schema; got {database!r}"
        )
    roles = [u.role for u in users]
    if sorted(roles) != sorted(ROLE_PRIVILEGES):
        raise InvalidBootstrapRequest(
            f"'users' must name exactly the roles {', '.join(sorted(ROLE_PRIVILEGES))}; "
            f"got {', '.join(roles)}"
        )
    names = [u.username for u in users]
    for user in users:
        if not _USER_NAME.match(user.username):
            raise InvalidBootstrapRequest(
                f"{user.role} user name must be 1-32 letters, digits or _; got {user.username!r}"
            )
        if master_username and user.username == master_username:
            raise InvalidBootstrapRequest(f"{user.role} user must not be the master user {master_username!r}")
        if names.count(user.username) > 1:
            raise InvalidBootstrapRequest(f"user name {user.username!r} is used by more than one role")


def validate_probe(probe: Account | None, master: Account, users: Sequence[UserSpec]) -> None:
    if probe is not None and probe.username in {master.username, *(u.username for u in users)}:
        raise InvalidBootstrapRequest(f"probe user must have a name of its own; got {probe.username!r}")


def _account(value: Any, name: str) -> Account:
    if not isinstance(value, Mapping) or not value.get("username") or not value.get("password"):
        raise BootstrapProtocolError(
            f"bootstrap request's {name!r} must be an object with username and password"
        )
    return Account(username=str(value["username"]), password=str(value["password"]))


@dataclass(frozen=True, kw_only=True)
class BootstrapRequest:
    database: str
    master: Account
    users: tuple[UserSpec, ...]
    probe: Account | None = None
    version: str | None = None
    """The Invocation's ``version``, for messages and the answer only."""

    def to_payload(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "master": {"username": self.master.username, "password": self.master.password},
            "users": [{"role": u.role, "username": u.username, "password": u.password} for u in self.users],
            "probe": None
            if self.probe is None
            else {"username": self.probe.username, "password": self.probe.password},
            "version": self.version,
        }

    @classmethod
    def from_payload(cls, payload: Any) -> BootstrapRequest:
        if not isinstance(payload, Mapping):
            raise BootstrapProtocolError(
                f"bootstrap request must be a JSON object, got {type(payload).__name__}"
            )
        database = payload.get("database")
        if not isinstance(database, str):
            raise BootstrapProtocolError(f"bootstrap request's 'database' must be a string; got {database!r}")
        users = payload.get("users")
        if not isinstance(users, list) or not all(
            isinstance(u, Mapping) and u.get("role") and u.get("username") and u.get("password")
            for u in users
        ):
            raise BootstrapProtocolError(
                "bootstrap request's 'users' must be a list of objects with role, username and password"
            )
        probe = payload.get("probe")
        version = payload.get("version")
        return cls(
            database=database,
            master=_account(payload.get("master"), "master"),
            users=tuple(
                UserSpec(role=str(u["role"]), username=str(u["username"]), password=str(u["password"]))
                for u in users
            ),
            probe=None if probe is None else _account(probe, "probe"),
            version=None if version is None else str(version),
        )


def result_from_payload(payload: Any) -> dict[str, Any]:
    """The worker's answer: what bootstrap changed, in which region (never a password)."""
    if not isinstance(payload, Mapping) or not payload.get("database") or not payload.get("region"):
        raise BootstrapProtocolError(
            f"bootstrap worker answer must be an object with 'database' and 'region'; got {payload!r}"
        )
    return dict(payload)
