"""An application database bootstrapped by the real bootstrap code on the test MariaDB server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pymysql

from lambda_src.bootstrap_worker.bootstrap import bootstrap
from lambda_src.common.bootstrap_sql import UserSpec
from tests.support.mariadb import MariaDBServer


@dataclass
class AppDb:
    """An application database bootstrapped by the real bootstrap code, with its own users."""

    server: MariaDBServer
    database: str
    users: tuple[UserSpec, ...]

    @property
    def migrator(self) -> UserSpec:
        return next(u for u in self.users if u.role == "migrator")

    def connect(self, **kwargs: Any) -> pymysql.Connection:
        """A connection like the Lambda's: the migrator user, autocommit, the app database."""
        return self.server.connect(
            user=self.migrator.username,
            password=self.migrator.password,
            database=self.database,
            autocommit=True,
            **kwargs,
        )

    def query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.server.connect(database=self.database, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def tables(self) -> set[str]:
        rows = self.query(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (self.database,)
        )
        return {r[0] for r in rows} - {"schema_migrations"}

    def history(self) -> list[tuple[int, str]]:
        return [
            (v, s) for v, s in self.query("SELECT version, status FROM schema_migrations ORDER BY version")
        ]


def make_app_db(server: MariaDBServer, env: str = "t") -> AppDb:
    suffix = uuid.uuid4().hex[:8]
    users = tuple(
        UserSpec(role, f"{short}{env}{suffix}", f"pw-{role}-{suffix}")
        for role, short in (("app", "app"), ("readonly", "ro"), ("migrator", "mig"))
    )
    database = f"app{env}{suffix}"
    with server.connect(autocommit=True) as conn:
        bootstrap(conn, database, users)
    return AppDb(server, database, users)


def drop_app_db(db: AppDb) -> None:
    db.server.execute(f"DROP DATABASE IF EXISTS `{db.database}`")
    for user in db.users:
        db.server.execute("DROP USER IF EXISTS %s@'%%'", (user.username,))
