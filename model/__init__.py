"""The model: environment files and their validation, AWS rules and dated data, topology, naming.

Imports nothing of the product: the Pulumi program, the operator side and the CLI build on it.
"""
