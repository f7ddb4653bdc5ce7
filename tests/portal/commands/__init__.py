"""Tests of portal/commands/: the citywifi subcommands as real processes."""
