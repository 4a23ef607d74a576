"""Named exceptions raised by Lambda code (handlers turn them into results, never hangs)."""


class LambdaCodeError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(LambdaCodeError):
    """A required environment variable is missing or malformed."""


class SecretError(LambdaCodeError):
    """The credentials secret could not be read or lacks a field."""


class DatabaseUnavailable(LambdaCodeError):
    """The database could not be reached, refused the login or did not answer in time."""
