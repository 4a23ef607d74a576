"""Tests of the CLI: every command through typer's CliRunner."""
