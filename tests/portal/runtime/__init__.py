"""Tests of portal/runtime/: settings, /metrics and readiness of the processes."""
