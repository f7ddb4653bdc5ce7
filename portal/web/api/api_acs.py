"""API: access controllers — list with live state, create, change, disable (``enabled: false``),
rotate secrets. Secrets appear only in the answer to a create or a rotation; never in reads or
in the audit log."""

from __future__ import annotations

import dataclasses
from typing import Any

from ac_adapters.profiles import PROFILES
from portal.aaa.acs import GATEWAY_KINDS, MAX_PORTAL_SOURCES, RADIUS_DIALECTS, AcRecord
from portal.runtime.settings import MA_MODES, ma_mode
from portal.web.api.api_base import ApiError, api_audit, body_error, json_body, operation
from portal.web.api.texts import AC_EXISTS, en_zh
from portal.web.noc.noc_acs import ROTATE, ac_public, check_proxy_links, live_state, registry, rotate
from portal.web.noc.noc_forms import FormError, new_secret

__all__: list[str] = []

_SECRET = {"type": "string", "minLength": 8, "maxLength": 64, "pattern": "^[\\x21-\\x7e]+$"}
_FIELDS: dict[str, Any] = {
    "addresses": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 16},
    "vendor": {"enum": sorted(PROFILES)},
    "bas_ip": {"type": "string", "maxLength": 45},
    "portal_sources": {"type": "array", "items": {"type": "string", "maxLength": 45},
                       "maxItems": MAX_PORTAL_SOURCES},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "rfc5176": {"type": "boolean"},
    "coa_port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "heartbeat": {"type": "boolean"}, "user_sync": {"type": "boolean"},
    # "" = the global radius setting; true/false (the old boolean form) are read as yes/no
    "require_message_authenticator": {"enum": ["", *MA_MODES, True, False]},
    "limit_proxy_state": {"enum": ["", *MA_MODES, True, False]},
    "strip_realm": {"type": "boolean"}, "mac_auth": {"type": "boolean"},
    "radius_dialect": {"enum": ["", *RADIUS_DIALECTS]},
    "enabled": {"type": "boolean"},
    "timeout": {"type": "number", "minimum": 0, "maximum": 60},
    "retries": {"type": "integer", "minimum": 0, "maximum": 10},
    "description": {"type": "string", "maxLength": 200},
    "client_address_check": {"type": "boolean"},
    "kind": {"enum": list(GATEWAY_KINDS)},
    "controller_url": {"type": "string", "maxLength": 300},
    "json_login": {"type": "boolean",
                   "description": "chilli: the login page uses Chilli's JSON interface (/json/logon)"},
    # RADIUS proxies (docs/integration/radius-proxy.md)
    "radius_proxy": {"type": "boolean",
                     "description": "a trusted RADIUS proxy: the AC behind it is read from "
                                    "NAS-IP-Address / NAS-Identifier"},
    "radius_via": {"type": "string", "pattern": "^[A-Za-z0-9_.\\-]{0,64}$",
                   "description": "the proxy record allowed to speak for this AC; \"\" = none"},
    "dm_via_proxy": {"type": "boolean",
                     "description": "send Disconnect/CoA through radius_via instead of to the AC"},
}
# The AC's DES key for encrypted MACs in its redirect: write-only ("" clears it), like secrets.
_REDIRECT_KEY = {"type": "string", "pattern": "^([\\x21-\\x7e]{8})?$"}
# An openNDS gateway's faskey: write-only too.
_FASKEY = {"type": "string", "pattern": "^[A-Za-z0-9]{8,128}$"}
# An Omada entry's Open API application, <client_id>:<client_secret>: write-only too.
_OPENAPI = {"type": "string", "pattern": "^([A-Za-z0-9_-]{8,128}:[A-Za-z0-9_-]{8,128})?$"}
LIVE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["state", "online_users", "last_seen", "radius_bad_authenticator",
                                   "portal_bad_authenticator"],
    "properties": {
        "state": {"enum": ["ok", "never", "silent", "disabled"]},
        "online_users": {"type": "integer"}, "last_seen": {"type": ["number", "null"]},
        "radius_last_at": {"type": ["number", "null"]}, "radius_rx": {"type": "integer"},
        "radius_drops": {"type": "object", "additionalProperties": {"type": "integer"}},
        "radius_bad_authenticator": {"type": "integer"},
        "radius_last_drop": {"type": ["string", "null"]},
        "radius_last_drop_at": {"type": ["number", "null"]},
        "portal_last_at": {"type": ["number", "null"]}, "portal_bad_authenticator": {"type": "integer"},
        "portal_dropped": {"type": "integer"}, "ntf_logout": {"type": "integer"},
        "portal_logins_ok": {"type": "integer"}, "portal_logins_failed": {"type": "integer"},
        "portal_timeouts": {"type": "integer"}, "portal_last_error": {"type": ["string", "null"]},
        "portal_last_error_at": {"type": ["number", "null"]},
        "last_ntf_logout_at": {"type": ["number", "null"]}, "heartbeat": {"type": "boolean"},
        "user_sync": {"type": "boolean"}, "user_sync_replies": {"type": "integer"},
    },
}
AC_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["name", "addresses", "vendor", "enabled", "separate_radius_secret"],
    "not": {"anyOf": [{"required": ["secret"]}, {"required": ["radius_secret"]},
                      {"required": ["redirect_key"]}, {"required": ["faskey"]},
                      {"required": ["openapi_client"]}]},
    "properties": {"name": {"type": "string"}, **_FIELDS,
                   "separate_radius_secret": {"type": "boolean"}, "redirect_key_set": {"type": "boolean"},
                   "faskey_set": {"type": "boolean"}, "openapi_client_set": {"type": "boolean"},
                   "live": LIVE_SCHEMA},
}
NEW_AC: dict[str, Any] = {
    "type": "object", "required": ["name", "addresses"], "additionalProperties": False,
    "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_.\\-]{1,64}$"}, **_FIELDS,
                   "secret": _SECRET, "radius_secret": _SECRET, "redirect_key": _REDIRECT_KEY,
                   "faskey": _FASKEY, "openapi_client": _OPENAPI},
}
AC_PATCH: dict[str, Any] = {"type": "object", "additionalProperties": False, "minProperties": 1,
                            "properties": {**_FIELDS, "redirect_key": _REDIRECT_KEY, "faskey": _FASKEY,
                                           "openapi_client": _OPENAPI}}
SECRETS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["name"],
    "properties": {"name": {"type": "string"}, "portal_secret": {"type": "string"},
                   "radius_secret": {"type": "string"}},
}
ROTATE_BODY: dict[str, Any] = {
    "type": "object", "required": ["which"], "additionalProperties": False,
    "properties": {"which": {"enum": list(ROTATE)}, "portal_secret": _SECRET, "radius_secret": _SECRET},
}


def _ma_modes(body: dict[str, Any]) -> dict[str, Any]:
    """An API caller's true/false for the Message-Authenticator policies means yes/no."""
    for key in ("require_message_authenticator", "limit_proxy_state"):
        if key in body:
            body[key] = ma_mode(body[key], key, inherit=True)
    return body


def _check_links(reg: Any, record: AcRecord) -> None:
    try:
        check_proxy_links(reg, record)
    except FormError as exc:
        raise body_error(exc.en, exc.zh) from None


def _with_live(records: list[AcRecord]) -> list[dict[str, Any]]:
    live = live_state(records)
    return [{**ac_public(r), "live": live[r.name]} for r in records]


@operation("/acs", "GET", scope="read", tag="acs", summary="Every AC with its live state",
           response={"type": "object", "required": ["acs"],
                     "properties": {"acs": {"type": "array", "items": AC_SCHEMA}}})
def list_acs() -> Any:
    return {"acs": _with_live(registry().all())}


@operation("/acs/{ac_name}", "GET", scope="read", tag="acs", summary="One AC with its live state",
           response=AC_SCHEMA, errors=(404,))
def get_ac(ac_name: str) -> Any:
    return _with_live([registry().get(ac_name)])[0]


@operation("/acs", "POST", scope="write", tag="acs",
           summary="Register an AC (secrets generated unless given; returned once)",
           request=NEW_AC, response=SECRETS_SCHEMA, status=201, errors=(409,))
def create_ac() -> Any:
    body = json_body(NEW_AC)
    reg = registry()
    if reg.get_or_none(body["name"]) is not None:
        raise ApiError(409, "exists", *en_zh(AC_EXISTS, name=body["name"]))
    body.setdefault("secret", new_secret())
    record = AcRecord.from_dict(_ma_modes(body))
    _check_links(reg, record)
    reg.put(record)
    api_audit("ac.create", record.name, None, ac_public(record))
    shown = {"name": record.name, "portal_secret": record.secret}
    if record.radius_secret:
        shown["radius_secret"] = record.radius_secret
    return shown, 201


@operation("/acs/{ac_name}", "PATCH", scope="write", tag="acs",
           summary="Change an AC (not its secrets); enabled: false disables it",
           request=AC_PATCH, response=AC_SCHEMA, errors=(404,))
def patch_ac(ac_name: str) -> Any:
    body = json_body(AC_PATCH)
    reg = registry()
    before = reg.get(ac_name)
    for key in ("addresses", "portal_sources"):
        if key in body:
            body[key] = tuple(body[key])
    after = dataclasses.replace(before, **_ma_modes(body))
    _check_links(reg, after)
    reg.put(after)
    action = ("ac.disable" if body.get("enabled") is False and before.enabled else
              "ac.enable" if body.get("enabled") is True and not before.enabled else "ac.update")
    api_audit(action, ac_name, ac_public(before), ac_public(after))
    return _with_live([after])[0]


@operation("/acs/{ac_name}/rotate-secret", "POST", scope="write", tag="acs",
           summary="New portal and/or RADIUS secret (generated unless given; returned once)",
           description="Rotating only the portal secret of an AC whose RADIUS secret followed it "
                       "keeps the old value as its RADIUS secret. Applies within the servers' "
                       "registry cache TTL (radius.ac_cache_ttl).",
           request=ROTATE_BODY, response=SECRETS_SCHEMA, errors=(404,))
def rotate_ac_secret(ac_name: str) -> Any:
    body = json_body(ROTATE_BODY)
    reg = registry()
    before = reg.get(ac_name)
    try:
        after, shown = rotate(before, body["which"], body.get("portal_secret", ""),
                              body.get("radius_secret", ""))
    except FormError as exc:
        raise body_error(exc.en, exc.zh) from None
    reg.put(after)
    api_audit("ac.rotate_secret", ac_name, None, {"rotated": [k.removesuffix("_secret") for k in shown]})
    return {"name": ac_name, **shown}

