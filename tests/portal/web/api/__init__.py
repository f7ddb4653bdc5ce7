"""Tests of portal/web/api/: /api/v1 (apikit.py: tokens and the OpenAPI check)."""
