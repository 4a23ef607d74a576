"""Certificates the tests make for themselves, and a server that offers no TLS.

``TestPki`` writes a trusted test CA, a server certificate it signs for 127.0.0.1 only,
and a second, unknown CA that signed nothing. The test MariaDB presents that server
certificate, so:

* connecting to ``RIGHT_HOST`` trusting ``ca_file`` verifies (trusted CA, right name);
* trusting ``unknown_ca_file`` (or the shipped Amazon RDS bundle) fails (unknown CA);
* connecting to ``WRONG_HOST`` (``localhost``: the same server, a name its certificate
  does not carry) fails (wrong name).

Keys are EC P-256: generated in microseconds, accepted by MariaDB's OpenSSL.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RIGHT_HOST = "127.0.0.1"
WRONG_HOST = "localhost"


@dataclass(frozen=True)
class TestPki:
    """Paths of the PEM files; ``ca_file`` is what a test passes as ``DB_CA_BUNDLE``."""

    ca_file: Path
    unknown_ca_file: Path
    server_cert: Path
    server_key: Path

    __test__ = False  # not a test class, despite the name


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aurora-global-infra tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _server(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, address: str
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"test database at {address}"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def create_pki(directory: Path) -> TestPki:
    """Write the test CA, the unknown CA and the server's certificate and key under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("aurora-global-infra test CA")
    unknown, _ = _ca("an unknown CA")
    server, server_key = _server(ca, ca_key, RIGHT_HOST)
    pki = TestPki(
        ca_file=directory / "test-ca.pem",
        unknown_ca_file=directory / "unknown-ca.pem",
        server_cert=directory / "server-cert.pem",
        server_key=directory / "server-key.pem",
    )
    pki.ca_file.write_bytes(_pem(ca))
    pki.unknown_ca_file.write_bytes(_pem(unknown))
    pki.server_cert.write_bytes(_pem(server))
    pki.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pki.server_key.chmod(0o600)
    return pki


# MySQL protocol 10 greeting capabilities: long password, protocol 4.1, secure connection and
# pluggable auth, and deliberately not CLIENT_SSL (0x800).
_CAPABILITIES = 0x1 | 0x200 | 0x8000 | 0x80000


class PlainGreetingServer:
    """A listener that greets like a MySQL server without TLS and records what clients send.

    Stands for any host answering on the endpoint's address: a verifying client must hang
    up without sending a login packet (user name, password hash).
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((RIGHT_HOST, 0))
        self.sock.listen(8)
        self.sock.settimeout(5)
        self.port = int(self.sock.getsockname()[1])
        self.received: list[bytes] = []
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def greeting() -> bytes:
        payload = (
            bytes([10])
            + b"8.0.36-impostor\0"
            + struct.pack("<I", 7)
            + b"abcdefgh\0"
            + struct.pack("<H", _CAPABILITIES & 0xFFFF)
            + bytes([45])
            + struct.pack("<H", 2)
            + struct.pack("<H", _CAPABILITIES >> 16)
            + bytes([21])
            + b"\0" * 10
            + b"ijklmnopqrst\0"
            + b"mysql_native_password\0"
        )
        return struct.pack("<I", len(payload))[:3] + b"\0" + payload

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed, or nobody came within the timeout
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                conn.sendall(self.greeting())
                while chunk := self._recv(conn):
                    self.received.append(chunk)

    @staticmethod
    def _recv(conn: socket.socket) -> bytes:
        try:
            return conn.recv(4096)
        except OSError:
            return b""

    def close(self) -> None:
        """Stop listening and wait for the connection being served to end."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self.sock.close()
        self._thread.join(timeout=6)
