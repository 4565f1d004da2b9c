"""Subcommands of the `parkmap` CLI, one module per area."""
