"""Tests of the Lambda code, against a real MariaDB and moto/Stubber."""
