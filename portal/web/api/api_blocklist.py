"""API: the blocklist — list, block (with reason and optional expiry), unblock."""

from __future__ import annotations

from typing import Any

from flask import request

from portal.errors import NotFound
from portal.web.api.api_base import api_audit, api_token, body_error, json_body, operation, query
from portal.web.api.texts import BAD_KIND, REASON_REQUIRED, en_zh
from portal.web.noc.noc_blocklist import KINDS, MAX_TTL, blocklist, entry_dict

__all__: list[str] = []

ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["kind", "value", "reason", "expires", "by", "at"],
    "properties": {"kind": {"enum": list(KINDS)}, "value": {"type": "string"},
                   "reason": {"type": "string"}, "expires": {"type": ["number", "null"]},
                   "by": {"type": "string"}, "at": {"type": "number"}},
}
NEW_ENTRY: dict[str, Any] = {
    "type": "object", "required": ["kind", "value", "reason"], "additionalProperties": False,
    "properties": {"kind": {"enum": list(KINDS)},
                   "value": {"type": "string", "minLength": 1, "maxLength": 32},
                   "reason": {"type": "string", "minLength": 1, "maxLength": 200},
                   "ttl_seconds": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TTL}},
}


@operation("/blocklist", "GET", scope="read", tag="blocklist", summary="Blocked phones and MACs",
           parameters=[query("kind", description="phone or mac (default both)", enum=KINDS)],
           response={"type": "object", "required": ["entries"],
                     "properties": {"entries": {"type": "array", "items": ENTRY_SCHEMA}}})
def list_blocked() -> Any:
    kind = request.args.get("kind", "")
    if kind and kind not in KINDS:
        raise body_error(*en_zh(BAD_KIND))
    store = blocklist()
    return {"entries": [entry_dict(k, e) for k in ((kind,) if kind else KINDS) for e in store.entries(k)]}


@operation("/blocklist", "POST", scope="write", tag="blocklist",
           summary="Block a phone or MAC (ttl_seconds: expiry; absent = forever)",
           request=NEW_ENTRY, response=ENTRY_SCHEMA, status=201)
def block() -> Any:
    body = json_body(NEW_ENTRY)
    if not body["reason"].strip():
        raise body_error(*en_zh(REASON_REQUIRED))
    entry = blocklist().block(body["kind"], body["value"], body["reason"].strip(),
                              ttl=body.get("ttl_seconds") or 0, by=api_token().actor)
    out = entry_dict(body["kind"], entry)
    api_audit("blocklist.add", f"{body['kind']}:{entry.value}", None, out)
    return out, 201


@operation("/blocklist/{kind}/{value}", "DELETE", scope="write", tag="blocklist",
           summary="Unblock a phone or MAC",
           response={"type": "object", "required": ["removed"],
                     "properties": {"removed": {"type": "string"}}}, errors=(404,))
def unblock(kind: str, value: str) -> Any:
    if kind not in KINDS:
        raise body_error(*en_zh(BAD_KIND))
    store = blocklist()
    before = store.get(kind, value)
    if not store.unblock(kind, value):
        raise NotFound(f"{value} is not blocked")
    api_audit("blocklist.remove", f"{kind}:{value}", entry_dict(kind, before) if before else None, None)
    return {"removed": value}
