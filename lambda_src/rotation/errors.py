"""Named errors of the rotation function; Secrets Manager retries a failed step, then reports it."""

from __future__ import annotations

from lambda_src.common.errors import LambdaCodeError, SecretError

# Finding the writer and reaching its worker is shared with the bootstrap (lambda_src.common.writer).
from lambda_src.common.writer import (
    NoWorkerForRegion,
    SqlWorkerFailed,
    SqlWorkerUnreachable,
    WriterLookupFailed,
    WriterMoved,
    WriterUnavailable,
)

__all__ = [
    "CredentialsMismatch",
    "InvalidRotationEvent",
    "NoWorkerForRegion",
    "RotationError",
    "RotationNotEnabled",
    "SecretVersionMissing",
    "SqlWorkerFailed",
    "SqlWorkerUnreachable",
    "VersionNotStaged",
    "WriterLookupFailed",
    "WriterMoved",
    "WriterUnavailable",
]


class RotationError(LambdaCodeError):
    """A rotation step cannot proceed."""


class InvalidRotationEvent(RotationError):
    """The event lacks SecretId or ClientRequestToken, or names an unknown Step."""


class RotationNotEnabled(RotationError):
    """The secret is not configured for rotation (never, or rotation was cancelled)."""


class VersionNotStaged(RotationError):
    """The event's token is not a version staged AWSPENDING (or AWSCURRENT) of the secret."""


class SecretVersionMissing(SecretError):
    """The requested version/stage of the secret holds no value (yet)."""


class CredentialsMismatch(RotationError):
    """The pending version names another user or server than the version that logs in."""
