import pymysql
import pytest

pytestmark = pytest.mark.mariadb


def test_mariadb_fixture_serves_a_private_server_on_loopback(mariadb):
    rows = mariadb.execute("SELECT @@port, @@bind_address, VERSION()")
    port, bind, version = rows[0]
    assert port == mariadb.port
    assert bind == "127.0.0.1"
    assert "MariaDB" in version


def test_fresh_mariadb_survives_a_restart_with_its_data(fresh_mariadb):
    fresh_mariadb.execute("CREATE DATABASE kept")
    fresh_mariadb.restart()
    assert ("kept",) in fresh_mariadb.execute("SHOW DATABASES")


def test_the_session_server_requires_tls_with_the_tests_certificate_like_aurora(mariadb, test_pki):
    assert mariadb.execute("SELECT @@require_secure_transport, @@ssl_cert") == [
        (1, str(test_pki.server_cert))
    ]
    assert mariadb.ca_bundle == str(test_pki.ca_file)
    # The same root login that works over TLS is refused in plain text (MariaDB answers 1045).
    with pytest.raises(pymysql.err.OperationalError, match=r"^\(1045, "):
        mariadb.connect(ssl_disabled=True)
