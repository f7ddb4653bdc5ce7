"""API: online sessions — search, one session, kick (RFC 5176 Disconnect, Portal logout fallback).

The same services as the console page ``/noc/sessions`` (``portal/web/noc/noc_sessions.py``). A kick
waits on the AC, so it runs as a background job: the request answers ``202`` at once with the
job (``portal/web/api/api_jobs.py``), whose result is the outcome — also when the AC did not answer
(``ok`` false, ``outcome`` ``no_answer``): the request was valid, the network was not.
"""

from __future__ import annotations

from typing import Any

from flask import request

from portal.errors import NotFound
from portal.noc.jobs import JobBusy
from portal.noc.session_search import MAX_PAGE, SessionFilter
from portal.web.api.api_base import api_actor, body_error, operation, query
from portal.web.api.api_jobs import JOB_SCHEMA, busy, job_body
from portal.web.api.texts import NOT_AN_INTEGER, OUT_OF_RANGE, en_zh
from portal.web.client_address import client_address
from portal.web.noc.noc_jobs import start_kick
from portal.web.noc.noc_sessions import noc_actions, session_query

__all__ = ["SESSION_SCHEMA"]

_NUM = {"type": "integer"}
_OPT_NUM = {"type": ["integer", "null"]}
_USED = {"type": "object", "required": ["time", "octets"],
         "properties": {"time": _NUM, "octets": _NUM}}

SESSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ac", "session_id", "phone", "mac", "ip", "ssid", "venue", "started", "plan",
                 "session_time", "octets", "time_left", "data_left"],
    "properties": {
        "ac": {"type": "string"}, "session_id": {"type": "string"}, "phone": {"type": "string"},
        "mac": {"type": "string"}, "ip": {"type": "string"}, "ssid": {"type": "string"},
        "venue": {"type": "string"}, "ap": {"type": "string"}, "login_kind": {"type": "string"},
        "started": _NUM, "updated": _NUM, "plan": {"type": "string"}, "session_time": _NUM,
        "input_octets": _NUM, "output_octets": _NUM, "octets": _NUM,
        "time_left": {**_OPT_NUM, "description": "seconds; null = no time limit"},
        "data_left": {**_OPT_NUM, "description": "octets (1 MB = 1,000,000 octets); null = no volume "
                                               "limit"},
        "used_today": _USED, "used_total": _USED,
    },
}
PAGE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["total", "offset", "limit", "sessions"],
    "properties": {"total": _NUM, "offset": _NUM, "limit": _NUM,
                   "sessions": {"type": "array", "items": SESSION_SCHEMA}},
}


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise body_error(*en_zh(NOT_AN_INTEGER, name=name)) from None
    if not low <= value <= high:
        raise body_error(*en_zh(OUT_OF_RANGE, name=name, low=low, high=high))
    return value


@operation("/sessions", "GET", scope="read", tag="sessions", summary="Search online sessions",
           description="Every given filter must match. Without filters: most recently reported "
                       "first. SSID and venue come from the session's real-name login record.",
           parameters=[query("phone", description="phone number (+86 and separators allowed)"),
                       query("mac", description="device MAC, any notation"), query("ip"),
                       query("ac", description="AC name"), query("venue", description="venue id"),
                       query("ssid"), query("offset", "integer", "default 0"),
                       query("limit", "integer", f"1…{MAX_PAGE}, default 50")],
           response=PAGE_SCHEMA)
def list_sessions() -> Any:
    flt = SessionFilter.parse(request.args)
    offset = _int_arg("offset", 0, 0, 10**9)
    limit = _int_arg("limit", 50, 1, MAX_PAGE)
    return session_query().search(flt, offset, limit).as_dict()


@operation("/sessions/{ac}/{session_id}", "GET", scope="read", tag="sessions",
           summary="One online session", response=SESSION_SCHEMA, errors=(404,))
def get_session(ac: str, session_id: str) -> Any:
    view = session_query().one(ac, session_id)
    if view is None:
        raise NotFound(f"no online session {session_id!r} on AC {ac!r}")
    return view.as_dict()


@operation("/sessions/{ac}/{session_id}/kick", "POST", scope="write", tag="sessions",
           summary="Take one session offline (RFC 5176 Disconnect, else Portal REQ_LOGOUT)",
           description="Runs as a background job and answers 202 at once; poll the job's "
                       "status_url (GET /jobs/{job_id}) until 'finished': result.kicks holds the "
                       "outcome. 503 'busy' when too many jobs are waiting.",
           response=JOB_SCHEMA, status=202, errors=(404, 503))
def kick_session(ac: str, session_id: str) -> Any:
    view = session_query().one(ac, session_id)
    if view is None:
        raise NotFound(f"no online session {session_id!r} on AC {ac!r}")
    try:
        job = start_kick(noc_actions(), [view.session], kind="kick_session", target=f"{ac}|{session_id}",
                         actor=api_actor()[0], actor_name=api_actor()[1], area="api",
                         ip=client_address(),
                         before=view.as_dict())
    except JobBusy as exc:
        raise busy(exc) from None
    return job_body(job), 202
