"""Single-user rotation of the Aurora master password kept in our own secret.

AWS does not offer RDS-managed master passwords for clusters in an Aurora global
database, so the product keeps the password in its own Secrets Manager secret (RDS JSON
layout) and Secrets Manager calls this function for the four rotation steps.
Handler string: ``lambda_src.rotation.handler.handler``.
"""
