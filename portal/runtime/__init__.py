"""What every process runs on: settings, /metrics and readiness, keys, seeding, demo data,
the supervisor of ``citywifi up``."""
