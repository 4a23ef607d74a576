"""Pulumi entry point: work out this stack's role from its name and config, run, export."""

import pulumi

from components.stack_programs import program_from_config

for _name, _value in program_from_config().items():
    pulumi.export(_name, _value)
