"""Named errors of the rotation function; Secrets Manager retries a failed step, then reports it."""

from __future__ import annotations

from lambda_src.common.errors import LambdaCodeError, SecretError


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


class WriterUnavailable(RotationError):
    """No writer to rotate against right now: the global cluster is failing over or switching
    over, or has no writer member. Raised so that Secrets Manager retries the step later."""


class WriterLookupFailed(RotationError):
    """DescribeGlobalClusters failed or does not know the global cluster."""


class NoWorkerForRegion(RotationError):
    """The writer is in a region for which the function knows no SQL worker."""


class SqlWorkerUnreachable(RotationError):
    """The Lambda API refused or failed the Invoke of the writer region's SQL worker."""


class SqlWorkerFailed(RotationError):
    """The SQL worker ran and failed (Lambda ``FunctionError``); the message names its region,
    its ``errorType`` and its ``errorMessage``."""

    def __init__(self, message: str, *, region: str, error_type: str, worker_message: str) -> None:
        super().__init__(message)
        self.region = region
        self.error_type = error_type
        self.worker_message = worker_message


class WriterMoved(SqlWorkerFailed):
    """The worker found its cluster read-only: the writer moved after it was chosen."""
