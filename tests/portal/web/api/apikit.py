"""Helpers for API tests: tokens, and checking a response against the served OpenAPI document."""

from __future__ import annotations

from typing import Any

import jsonschema
from flask import Flask

from portal.admin.accounts import AccountStore, Role
from portal.admin.apitokens import ApiTokenStore

__all__ = ["OWNER", "assert_matches_openapi", "auth", "owner", "token"]

OWNER = "api-owner"


def owner(redis: Any) -> str:
    """``created_by`` of test tokens: an administrator account (created if missing), since a
    token lives only as long as the account that made it."""
    if AccountStore(redis).get(OWNER) is None:
        AccountStore(redis).create(OWNER, "Provisioning-key-4242", Role.ADMIN)
    return f"user:{OWNER}"


def token(redis: Any, scope: str = "read", name: str | None = None) -> str:
    """A fresh API token secret with ``scope``, created by the :func:`owner` administrator."""
    _token, secret = ApiTokenStore(redis).create(name or f"test-{scope}", scope, owner(redis))
    return secret


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_matches_openapi(app: Flask, method: str, path_template: str, response: Any) -> None:
    """``response`` (a Flask test response) has a status and body the served document allows."""
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    op = doc["paths"][path_template][method.lower()]
    status = str(response.status_code)
    assert status in op["responses"], f"{method} {path_template}: status {status} is not documented"
    content = op["responses"][status].get("content", {})
    if "application/json" not in content:
        return
    schema = dict(content["application/json"]["schema"])
    schema["$defs"] = doc["components"]["schemas"]
    schema = _rebase(schema)
    jsonschema.validate(response.get_json(), schema, cls=jsonschema.Draft202012Validator)


def _rebase(node: Any) -> Any:
    """Point ``#/components/schemas/X`` references at the inlined ``$defs``."""
    if isinstance(node, dict):
        return {k: (v.replace("#/components/schemas/", "#/$defs/") if k == "$ref" else _rebase(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node
