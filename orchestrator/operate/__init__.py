"""Live operations against AWS: status, failover, schema and database operations."""
