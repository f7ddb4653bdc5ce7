"""API: who am I, console accounts, and the audit log."""

from __future__ import annotations

from typing import Any

from flask import request

from portal.admin.accounts import AccountStore, Role
from portal.admin.apitokens import SCOPES
from portal.admin.audit import AuditLog
from portal.web.api.api_base import api_audit, api_token, json_body, operation, query
from portal.web.api.texts import NOT_AN_INTEGER, en_zh
from portal.web.wiring import services

__all__: list[str] = []

TOKEN_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "name", "scope"],
    "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                   "scope": {"enum": list(SCOPES)}, "created_by": {"type": "string"},
                   "created_at": {"type": "number"}, "expires_at": {"type": ["number", "null"]},
                   "last_used": {"type": ["number", "null"]}, "revoked": {"type": "boolean"},
                   "revoked_reason": {"type": "string"},
                   "issued_by": {"type": "string", "description": "who minted it for its account "
                                 "(citywifi admin create-token --owner); empty when the account did"},
                   "venues": {"type": ["array", "null"], "items": {"type": "string"},
                              "description": "a venue account's token: the venues it reads "
                                             "(shown to the token itself, GET /whoami)"},
                   "grants": {"type": "array", "items": {"enum": list(SCOPES)},
                              "description": "what the token may do now (its scope, cut down to "
                                             "its creator's current role)"}},
}
ACCOUNT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["username", "role", "venues", "disabled"],
    "properties": {"username": {"type": "string"}, "role": {"enum": [r.value for r in Role]},
                   "venues": {"type": "array", "items": {"type": "string"}},
                   "display_name": {"type": "string"}, "disabled": {"type": "boolean"},
                   "created_at": {"type": "number"}, "password_changed_at": {"type": "number"}},
}
NEW_ACCOUNT: dict[str, Any] = {
    "type": "object", "required": ["username", "password", "role"], "additionalProperties": False,
    "properties": {"username": {"type": "string", "maxLength": 64}, "password": {"type": "string"},
                   "role": {"enum": [r.value for r in Role]},
                   "venues": {"type": "array", "items": {"type": "string"}, "maxItems": 500},
                   "display_name": {"type": "string", "maxLength": 80}},
}
ACCOUNT_PATCH: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {"role": {"enum": [r.value for r in Role]},
                   "venues": {"type": "array", "items": {"type": "string"}, "maxItems": 500},
                   "display_name": {"type": "string", "maxLength": 80}, "disabled": {"type": "boolean"},
                   "password": {"type": "string"}},
}
AUDIT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["entries"],
    "properties": {"entries": {"type": "array", "items": {
        "type": "object", "required": ["id", "at", "actor", "area", "action", "target"],
        "properties": {"id": {"type": "string"}, "at": {"type": "number"}, "actor": {"type": "string"},
                       "area": {"type": "string"}, "action": {"type": "string"},
                       "target": {"type": "string"}, "before": {}, "after": {}, "ip": {"type": "string"},
                       "actor_name": {"type": "string"}}}}},
}


def _accounts() -> AccountStore:
    return AccountStore(services().redis)


@operation("/whoami", "GET", scope="read", tag="accounts", summary="The token making this request",
           response=TOKEN_SCHEMA, venue_scoped=True)
def whoami() -> Any:
    return api_token().as_dict()


@operation("/accounts", "GET", scope="read", tag="accounts", summary="Console accounts",
           response={"type": "object", "required": ["accounts"],
                     "properties": {"accounts": {"type": "array", "items": ACCOUNT_SCHEMA}}})
def list_accounts() -> Any:
    return {"accounts": [a.public() for a in _accounts().all()]}


@operation("/accounts", "POST", scope="admin", tag="accounts", summary="Create a console account",
           request=NEW_ACCOUNT, response=ACCOUNT_SCHEMA, status=201, errors=(409,))
def create_account() -> Any:
    body = json_body(NEW_ACCOUNT)
    account = _accounts().create(body["username"], body["password"], body["role"], body.get("venues", ()),
                                 body.get("display_name", ""))
    api_audit("account.create", account.username, None, account.public())
    return account.public(), 201


@operation("/accounts/{username}", "GET", scope="read", tag="accounts", summary="One console account",
           response=ACCOUNT_SCHEMA, errors=(404,))
def get_account(username: str) -> Any:
    return _accounts().require(username).public()


@operation("/accounts/{username}", "PATCH", scope="admin", tag="accounts",
           summary="Change an account's role, venues, name, state or password",
           request=ACCOUNT_PATCH, response=ACCOUNT_SCHEMA, errors=(404,))
def patch_account(username: str) -> Any:
    body = json_body(ACCOUNT_PATCH)
    store = _accounts()
    before = store.require(username)
    new_password = "password" in body
    if new_password:
        store.set_password(username, body.pop("password"))
    # The store ends the account's console sign-ins on a new password or when disabled.
    after = store.update(username, **body) if body else store.require(username)
    api_audit("account.update", username, before.public(), after.public())
    return after.public()


@operation("/accounts/{username}", "DELETE", scope="admin", tag="accounts", summary="Delete an account",
           response={"type": "object", "required": ["deleted"],
                     "properties": {"deleted": {"type": "string"}}},
           errors=(404,))
def delete_account(username: str) -> Any:
    store = _accounts()
    before = store.require(username)
    store.delete(username)                  # its console sign-ins end with it
    api_audit("account.delete", username, before.public(), None)
    return {"deleted": username}


@operation("/audit", "GET", scope="read", tag="audit", summary="Newest audit log entries",
           parameters=[query("area", description="venue, noc, api or account"), query("actor"),
                       query("target"), query("limit", "integer", "at most 1000 (default 100)")],
           response=AUDIT_SCHEMA)
def audit_entries() -> Any:
    try:
        limit = max(1, min(1000, int(request.args.get("limit", 100))))
    except ValueError:
        from portal.web.api.api_base import body_error

        raise body_error(*en_zh(NOT_AN_INTEGER, name="limit")) from None
    entries = AuditLog(services().redis).recent(
        limit, area=request.args.get("area") or None, actor=request.args.get("actor") or None,
        target=request.args.get("target") or None)
    return {"entries": [e.as_dict() for e in entries]}
