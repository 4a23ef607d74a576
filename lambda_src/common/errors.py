"""Named exceptions raised by Lambda code (handlers turn them into results, never hangs)."""


class LambdaCodeError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(LambdaCodeError):
    """A required environment variable is missing or malformed."""


class SecretError(LambdaCodeError):
    """The credentials secret could not be read or lacks a field."""


class DatabaseUnavailable(LambdaCodeError):
    """The database could not be reached, refused the login or did not answer in time."""


class AuthenticationFailed(DatabaseUnavailable):
    """The server refused the login: wrong password or unknown user (MySQL error 1045)."""


class PasswordExpired(AuthenticationFailed):
    """The account's password has expired (MySQL errors 1862 at login, 1820 in sandbox mode).

    An authentication problem, not a query failure: the secret may already hold the new
    password, so callers re-read it as they do after a refused login.
    """


class TlsVerificationFailed(DatabaseUnavailable):
    """The server could not be authenticated: its certificate does not chain to the trusted
    CAs, does not name the host connected to, or the server offered no TLS at all.

    The TLS handshake comes before the login packet, so no credentials were sent.
    """
