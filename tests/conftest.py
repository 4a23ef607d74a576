"""Shared fixtures. The MariaDB tier starts its own throwaway server; in CI it must run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.mariadb import MariaDBServer, mariadb_binaries
from tests.support.tls import TestPki, create_pki


def _require_mariadb() -> None:
    if mariadb_binaries() is not None:
        return
    reason = (
        "MariaDB server binaries (mariadbd, mariadb-install-db) not found: apt-get install -y mariadb-server"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the MariaDB tier: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """The tests' own CA, an unknown CA and the test servers' certificate (tests/support/tls.py)."""
    return create_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def mariadb(test_pki: TestPki) -> Iterator[MariaDBServer]:
    """One private MariaDB server per test session (per xdist worker), TLS required."""
    _require_mariadb()
    server = MariaDBServer(tls=test_pki).start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def fresh_mariadb(test_pki: TestPki) -> Iterator[MariaDBServer]:
    """A server of the test's own, for tests that stop, restart or reconfigure it."""
    _require_mariadb()
    server = MariaDBServer(tls=test_pki).start()
    try:
        yield server
    finally:
        server.cleanup()


# Shared by the schema-promotion and `infra db` tests (defined with its fakes in tests/support/).
from tests.support.schema_envs import envs  # noqa: E402, F401
