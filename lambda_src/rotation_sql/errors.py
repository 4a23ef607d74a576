"""Named errors of the rotation SQL worker; their names reach the rotation function as ``errorType``."""

from __future__ import annotations

from lambda_src.common.errors import LambdaCodeError

# The refusal on a read-only cluster is every worker's (lambda_src.common.worker).
from lambda_src.common.worker import NotWriter

__all__ = [
    "AccountMismatch",
    "NoWorkingCredentials",
    "NotWriter",
    "PasswordChangeFailed",
    "PendingSecretRejected",
    "SqlWorkerError",
]


class SqlWorkerError(LambdaCodeError):
    """The SQL step cannot be done; Secrets Manager retries the rotation step, then reports failure."""


class AccountMismatch(SqlWorkerError):
    """The server authenticated another account than the secret's user."""


class NoWorkingCredentials(SqlWorkerError):
    """setSecret could log in with none of AWSPENDING, AWSCURRENT and AWSPREVIOUS."""


class PasswordChangeFailed(SqlWorkerError):
    """ALTER USER failed, or the server still refuses the new password after it."""


class PendingSecretRejected(SqlWorkerError):
    """testSecret: the server refuses the AWSPENDING password."""
