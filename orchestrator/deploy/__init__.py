"""Deployment: the orchestration engine, its runners (in-process, Automation API) and ephemeral environments."""
