"""Pieces shared by every handler: database connections, secrets, errors."""
