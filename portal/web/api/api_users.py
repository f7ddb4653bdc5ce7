"""API: one phone (a user) — profile, kick its sessions, change its plan (a job: CoA to live
sessions), unbind a device. Same services as the console pages ``/noc/users``; every change is audited
with before/after."""

from __future__ import annotations

from typing import Any

from portal.aaa.credentials import normalise_phone
from portal.aaa.sessions import normalise_mac_or_none
from portal.errors import NotFound, ValidationError
from portal.noc.jobs import JobBusy
from portal.web.api.api_base import api_actor, api_audit, body_error, json_body, operation
from portal.web.api.api_jobs import JOB_SCHEMA, busy, job_body
from portal.web.api.texts import NOT_A_MAC, NOT_A_PHONE, en_zh
from portal.web.client_address import client_address
from portal.web.noc.noc_jobs import start_kick, start_user_plan
from portal.web.noc.noc_sessions import noc_actions, user_directory

__all__: list[str] = []

_OPT_NUM = {"type": ["integer", "null"]}
_OPT_EPOCH = {"type": ["number", "null"]}
_AMOUNT = {"type": "object", "required": ["time", "octets"],
           "properties": {"time": {"type": "integer"}, "octets": {"type": "integer"}}}

PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["phone", "plan", "usage", "validity", "macs", "online", "logins"],
    "properties": {
        "phone": {"type": "string"},
        "plan": {"type": "object", "required": ["override", "effective", "source"],
                 "properties": {"override": {"type": ["string", "null"]},
                                "effective": {"type": ["string", "null"]},
                                "source": {"enum": ["override", "session", "last_login", "default",
                                                    "none"]},
                                "definition": {"type": ["object", "null"]}}},
        "usage": {"type": "object", "required": ["day", "today", "total"],
                  "properties": {"day": {"type": "string"}, "today": _AMOUNT, "total": _AMOUNT}},
        "validity": {"type": "object", "required": ["first_login", "expires"],
                     "properties": {"first_login": _OPT_EPOCH, "expires": _OPT_EPOCH}},
        "macs": {"type": "array", "items": {"type": "object", "required": ["mac", "expires"],
                                            "properties": {"mac": {"type": "string"},
                                                           "expires": {"type": "number"}}}},
        "online": {"type": "array", "items": {
            "type": "object", "required": ["ac", "session_id"],
            "properties": {"ac": {"type": "string"}, "session_id": {"type": "string"},
                           "mac": {"type": "string"}, "ip": {"type": "string"},
                           "plan": {"type": "string"}, "started": {"type": "integer"}}}},
        "logins": {"type": "array", "items": {
            "type": "object", "required": ["at", "mac", "ip", "ac", "ssid", "venue", "kind", "plan"],
            "properties": {"at": {"type": "number"}, "mac": {"type": "string"}, "ip": {"type": "string"},
                           "ac": {"type": "string"}, "ap": {"type": "string"},
                           "ssid": {"type": "string"}, "venue": {"type": "string"},
                           "kind": {"type": "string"}, "plan": {"type": "string"},
                           "observed_ip": {"type": "string"}}}},
    },
}
PLAN_BODY: dict[str, Any] = {
    "type": "object", "required": ["plan"], "additionalProperties": False,
    "properties": {"plan": {"type": ["string", "null"], "maxLength": 64,
                            "description": "plan name; null removes the override"}},
}
def _phone(phone: str) -> str:
    try:
        return normalise_phone(phone)
    except ValidationError:
        raise body_error(*en_zh(NOT_A_PHONE, phone=phone)) from None


@operation("/users/{phone}", "GET", scope="read", tag="users",
           summary="A phone's plan, usage, validity, bound devices, sessions and recent logins",
           response=PROFILE_SCHEMA)
def get_user(phone: str) -> Any:
    return user_directory().profile(_phone(phone)).as_dict()


@operation("/users/{phone}/kick", "POST", scope="write", tag="users",
           summary="Take every online session of a phone offline",
           description="Runs as a background job and answers 202 at once; poll the job's "
                       "status_url (GET /jobs/{job_id}) until 'finished': result.kicks has one "
                       "outcome per session (none when nothing was online).",
           response=JOB_SCHEMA, status=202, errors=(503,))
def kick_user(phone: str) -> Any:
    phone = _phone(phone)
    sessions = noc_actions().registry.by_phone(phone)
    try:
        job = start_kick(noc_actions(), sessions, kind="kick_phone", target=phone,
                         actor=api_actor()[0], actor_name=api_actor()[1], area="api",
                         ip=client_address(),
                         before={"sessions": len(sessions)})
    except JobBusy as exc:
        raise busy(exc) from None
    return job_body(job), 202


@operation("/users/{phone}/plan", "PUT", scope="write", tag="users",
           summary="Set or remove a phone's plan override; applied to its online sessions by CoA",
           description="Runs as a background job and answers 202 at once (an unknown plan: 404, "
                       "a retired one: 400, before anything changes). Poll the job's status_url "
                       "(GET /jobs/{job_id}) until 'finished': result.sessions has one outcome per "
                       "online session. Where the AC has no RFC 5176 the outcome says so and the "
                       "new plan applies at the next login; removing the override (plan: null) "
                       "leaves online sessions as they are.",
           request=PLAN_BODY, response=JOB_SCHEMA, status=202, errors=(404, 503))
def put_plan(phone: str) -> Any:
    phone = _phone(phone)
    body = json_body(PLAN_BODY)
    try:
        job = start_user_plan(noc_actions(), phone, body["plan"], actor=api_actor()[0],
                              actor_name=api_actor()[1], area="api", ip=client_address())
    except JobBusy as exc:
        raise busy(exc) from None
    return job_body(job), 202


@operation("/users/{phone}/macs/{mac}", "DELETE", scope="write", tag="users",
           summary="Unbind a device from a phone (it needs an SMS code again)",
           response={"type": "object", "required": ["phone", "unbound"],
                     "properties": {"phone": {"type": "string"}, "unbound": {"type": "string"}}},
           errors=(404,))
def unbind_mac(phone: str, mac: str) -> Any:
    phone = _phone(phone)
    norm = normalise_mac_or_none(mac)
    if norm is None:
        raise body_error(*en_zh(NOT_A_MAC, mac=mac))
    directory = user_directory()
    bound = {m.mac: m for m in directory.bound_macs(phone)}
    if norm not in bound:
        raise NotFound(f"{norm} is not bound to {phone}")
    directory.credentials.unbind_mac(norm)
    api_audit("user.unbind_mac", phone, {"mac": norm, "expires": bound[norm].expires}, None)
    return {"phone": phone, "unbound": norm}
