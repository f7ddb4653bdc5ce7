"""Entry points of ``citywifi`` subcommands that belong to the portal core."""
