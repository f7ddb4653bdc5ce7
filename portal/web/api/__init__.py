"""``/api/v1``: the JSON API for the NOC's programs (token auth, OpenAPI at /api/v1/openapi.json).

Resource modules declare their operations with :func:`portal.web.api.api_base.operation`; listing a
module in :data:`RESOURCE_MODULES` is what makes it part of the app.
"""

from __future__ import annotations

import importlib

from flask import Flask

__all__ = ["RESOURCE_MODULES", "init_api"]

# One module per resource (portal.web.api.api_<name>); each registers its operations on import.
RESOURCE_MODULES: tuple[str, ...] = (
    "api_accounts",
    "api_stats",
    "api_venues",
    "api_sessions",
    "api_jobs",
    "api_users",
    "api_plans",
    "api_acs",
    "api_blocklist",
    "api_logs",
    "api_tokens",
    "api_campaigns",
    "api_reports",
)


def init_api(app: Flask) -> None:
    from portal.web.api import api_base

    for name in RESOURCE_MODULES:
        importlib.import_module(f"portal.web.api.{name}")
    app.register_blueprint(api_base.bp)
