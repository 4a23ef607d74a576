"""Tests of live operations: status, failover, schema promotion."""
