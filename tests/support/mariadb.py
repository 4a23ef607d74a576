"""A private, throwaway MariaDB server for tests.

Each server lives in its own temporary directory, listens on a free loopback port and
is stopped (and its files removed) when the test session ends. Tests never depend on a
server that happens to be running on the machine.

Given ``tls`` (certificates from tests/support/tls.py) the server presents that
certificate and, like Aurora's parameter group, requires secure transport
(``require_secure_transport=ON``); the Lambda code only ever connects with verified TLS.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from tests.support.tls import TestPki

ROOT_PASSWORD = "root-test-only"


def find_binary(*names: str) -> str | None:
    for name in names:
        for folder in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/usr/bin"]:
            candidate = Path(folder) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def mariadb_binaries() -> tuple[str, str] | None:
    """Paths of (server, install-db), or None when MariaDB is not installed."""
    server = find_binary("mariadbd", "mysqld")
    install = find_binary("mariadb-install-db", "mysql_install_db")
    if server is None or install is None:
        return None
    return server, install


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MariaDBServer:
    """One mariadbd process with its own datadir, socket and port."""

    base_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mariadb-test-")))
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    tls: TestPki | None = None
    """Certificates to present; None for a server without TLS. Defaults to None."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def ca_bundle(self) -> str:
        """The CA file a client passes (``DB_CA_BUNDLE``) to verify this server."""
        if self.tls is None:
            raise RuntimeError("this test server was started without TLS")
        return str(self.tls.ca_file)

    @property
    def datadir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_path(self) -> Path:
        return self.base_dir / "mysqld.sock"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "mysqld.log"

    def start(self, timeout: float = 60.0) -> MariaDBServer:
        binaries = mariadb_binaries()
        if binaries is None:
            raise RuntimeError("MariaDB is not installed (apt-get install -y mariadb-server)")
        server, install = binaries
        first_start = not self.datadir.exists()
        # A private tmpdir: parallel mariadb-install-db runs collide on temp tables in /tmp.
        tmpdir = self.base_dir / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        if first_start:
            subprocess.run(
                [
                    install,
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    f"--tmpdir={tmpdir}",
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ],
                check=True,
                capture_output=True,
            )
        self.process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--tmpdir={tmpdir}",
                f"--socket={self.socket_path}",
                f"--port={self.port}",
                f"--bind-address={self.host}",
                f"--log-error={self.log_path}",
                f"--pid-file={self.base_dir / 'mysqld.pid'}",
                "--user=root",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--skip-log-bin",
                "--max-connections=200",
                *self._tls_options(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited early: {self._log_tail()}")
            try:
                conn = pymysql.connect(
                    unix_socket=str(self.socket_path),
                    user="root",
                    password="" if first_start else ROOT_PASSWORD,
                    connect_timeout=1,
                )
            except pymysql.err.OperationalError as exc:
                last_error = exc
                time.sleep(0.1)
                continue
            if not first_start:
                conn.close()
                return self
            with conn, conn.cursor() as cur:
                cur.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (ROOT_PASSWORD,))
                cur.execute("CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY %s", (ROOT_PASSWORD,))
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
            return self
        raise RuntimeError(
            f"mariadbd did not accept connections in {timeout}s: {last_error}; {self._log_tail()}"
        )

    def _tls_options(self) -> list[str]:
        if self.tls is None:
            return []
        return [
            f"--ssl-ca={self.tls.ca_file}",
            f"--ssl-cert={self.tls.server_cert}",
            f"--ssl-key={self.tls.server_key}",
            "--require-secure-transport=ON",
        ]

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def connect(
        self, user: str = "root", password: str = ROOT_PASSWORD, **kwargs: object
    ) -> pymysql.Connection:
        return pymysql.connect(host=self.host, port=self.port, user=user, password=password, **kwargs)  # type: ignore[arg-type]

    def execute(self, sql: str, args: object = None) -> list[tuple[object, ...]]:
        with self.connect(autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)


class SilentListener:
    """A TCP listener that accepts connections and never answers: a black-holed database."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()
