"""The operator side of the product: offline analysis, deployment, live operations, and the CLI on top."""
