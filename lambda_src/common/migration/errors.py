"""Why the migrator refused or stopped. Each message names the migration concerned."""

from lambda_src.common.errors import LambdaCodeError


class MigrationError(LambdaCodeError):
    """Base class: the schema was left as it was, or in a recorded, repairable state."""


class MigrationSetError(MigrationError):
    """The set of migration files is malformed: bad name, gap, duplicate, unsplittable SQL."""


class ChecksumMismatch(MigrationError):
    """A file differs from what was published or from what was applied."""


class HistoryMismatch(MigrationError):
    """The database's applied history does not fit the migration set (unknown or out-of-order version)."""


class MigrationBlocked(MigrationError):
    """An earlier migration failed or was interrupted; nothing runs until it is repaired."""


class MigrationFailed(MigrationError):
    """A statement failed; the migration is recorded as failed with that statement and error."""


class BookkeepingFailed(MigrationError):
    """The migrator's own database work failed: the lock, reading or writing schema_migrations,
    or opening the session a migration runs in. The message names the migration and what its
    record holds."""


class LockNotAcquired(MigrationError):
    """Another migration run holds the database-level lock."""


class NotBootstrapped(MigrationError):
    """The bookkeeping table is missing: the bootstrap function has not run against this database."""


class RepairRefused(MigrationError):
    """Repair was asked for a migration that is not failed or interrupted."""


class SourceError(MigrationError):
    """The published migration set could not be read from S3."""


class InvalidRequest(MigrationError):
    """The invocation event is malformed (unknown action, wrong type)."""


class VersionNotPublished(MigrationError):
    """The schema is migrated but the SSM parameter holding its version could not be written."""
