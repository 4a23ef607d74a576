"""lambda_src.common.db: the one way the functions connect, always verified TLS."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import pytest

from lambda_src.common.db import RDS_CA_BUNDLE, Endpoint, ca_bundle_from_env, connect, tls_context
from lambda_src.common.errors import AuthenticationFailed, ConfigurationError, TlsVerificationFailed
from tests.support.mariadb import ROOT_PASSWORD, MariaDBServer
from tests.support.tls import RIGHT_HOST, WRONG_HOST, TestPki

# OpenSSL's words for a chain that ends at a CA the client does not trust (whether or not the
# server sends its CA along).
UNTRUSTED_CHAIN = "self-signed certificate in certificate chain|unable to get local issuer certificate"


def test_default_context_requires_a_certificate_from_the_rds_cas_naming_the_host() -> None:
    context = tls_context(RDS_CA_BUNDLE)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    subjects = [dict(item[0] for item in ca["subject"])["commonName"] for ca in context.get_ca_certs()]
    assert len(subjects) == 87 and all(name.startswith("Amazon RDS ") for name in subjects)


@pytest.mark.parametrize(
    "env",
    [{}, {"DB_CA_BUNDLE": ""}, {"DB_CA_BUNDLE": "  "}, {"DB_TLS": "true"}, {"DB_TLS": "TRUE "}],
    ids=["unset", "empty", "blank", "tls-true", "tls-true-spelled-loosely"],
)
def test_without_a_ca_file_named_the_shipped_rds_bundle_is_trusted(env: dict[str, str]) -> None:
    assert ca_bundle_from_env(env) == RDS_CA_BUNDLE


@pytest.mark.parametrize("value", ["false", "0", "no", "off", "disabled"])
def test_asking_for_tls_off_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ca_bundle_from_env({"DB_TLS": value})
    assert str(raised.value) == (
        f"DB_TLS={value!r} is not supported: every database connection uses TLS verified against "
        "DB_CA_BUNDLE (default: the shipped Amazon RDS CA bundle); remove DB_TLS"
    )


def test_a_ca_file_that_cannot_be_loaded_is_a_configuration_error(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    for path in (str(tmp_path / "absent.pem"), str(not_pem)):
        with pytest.raises(ConfigurationError, match="DB_CA_BUNDLE must name a readable PEM file") as raised:
            ca_bundle_from_env({"DB_CA_BUNDLE": path})
        assert path in str(raised.value) and "unset it to use the shipped Amazon RDS bundle" in str(
            raised.value
        )


def test_a_named_ca_file_is_used(test_pki: TestPki) -> None:
    assert ca_bundle_from_env({"DB_CA_BUNDLE": str(test_pki.ca_file)}) == str(test_pki.ca_file)


@pytest.mark.mariadb
def test_trusted_ca_and_right_name_connect_over_tls(mariadb: MariaDBServer) -> None:
    endpoint = Endpoint(
        host=RIGHT_HOST, port=mariadb.port, user="root", password=ROOT_PASSWORD, ca_bundle=mariadb.ca_bundle
    )
    with connect(endpoint) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        assert cursor.fetchall()[0][1] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.mariadb
@pytest.mark.parametrize(
    ("host", "ca", "expected"),
    [
        (RIGHT_HOST, "rds", UNTRUSTED_CHAIN),
        (RIGHT_HOST, "unknown", UNTRUSTED_CHAIN),
        (WRONG_HOST, "test", re.escape(f"Hostname mismatch, certificate is not valid for '{WRONG_HOST}'")),
    ],
    ids=["rds-bundle", "unknown-ca", "wrong-name"],
)
def test_an_unverified_server_is_refused_before_the_login(
    mariadb: MariaDBServer, test_pki: TestPki, host: str, ca: str, expected: str
) -> None:
    ca_bundle = {"rds": RDS_CA_BUNDLE, "unknown": str(test_pki.unknown_ca_file), "test": mariadb.ca_bundle}[
        ca
    ]
    # A wrong password too: had the login been reached, the server would answer 1045.
    endpoint = Endpoint(host=host, port=mariadb.port, user="root", password="wrong", ca_bundle=ca_bundle)
    with pytest.raises(TlsVerificationFailed) as raised:
        connect(endpoint)
    assert re.search(f"TLS verification failed: ({expected})", str(raised.value)), str(raised.value)
    assert not isinstance(raised.value, AuthenticationFailed)
