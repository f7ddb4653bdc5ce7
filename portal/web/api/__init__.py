"""``/api/v1``: the JSON API for the NOC's programs (token auth, OpenAPI at /api/v1/openapi.json).

Resource modules declare their operations with :func:`portal.web.api.base.operation`; listing a
module in :data:`RESOURCE_MODULES` is what makes it part of the app.
"""

from __future__ import annotations

import importlib

from flask import Flask

__all__ = ["RESOURCE_MODULES", "init_api"]

# One module per resource (portal.web.api.<name>); each registers its operations on import.
RESOURCE_MODULES: tuple[str, ...] = (
    "accounts",
    "stats",
    "venues",
    "sessions",
    "jobs",
    "users",
    "plans",
    "acs",
    "blocklist",
    "logs",
    "tokens",
    "campaigns",
    "reports",
)


def init_api(app: Flask) -> None:
    from portal.web.api import base

    for name in RESOURCE_MODULES:
        importlib.import_module(f"portal.web.api.{name}")
    app.register_blueprint(base.bp)
