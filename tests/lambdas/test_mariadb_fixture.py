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
