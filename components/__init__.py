"""Pulumi ComponentResources of the Aurora global database, and the per-role stack programs."""
