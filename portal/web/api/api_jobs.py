"""API: background jobs — what a kick or a plan change started (``portal/noc/jobs.py``).

``POST /sessions/{ac}/{session_id}/kick``, ``POST /users/{phone}/kick``, ``PUT
/users/{phone}/plan`` and a ``PATCH /plans/{plan_name}`` that changes limits answer ``202``
(the patch: ``200`` with the plan and its ``applying`` job) at once; ``GET /jobs/{job_id}``
(``status_url`` in those answers) says how far the job is and, once ``finished``, its
``result``. Poll it about once a second; a job record expires ``console.job_ttl`` seconds
after its last change.
"""

from __future__ import annotations

from typing import Any

from flask import url_for

from portal.errors import NotFound
from portal.noc.jobs import Job, JobBusy
from portal.web.api.api_base import ApiError, operation
from portal.web.noc.noc_jobs import job_store

__all__ = ["JOB_SCHEMA", "busy", "job_body"]

_NUM = {"type": "integer"}

KICK_OUTCOME: dict[str, Any] = {
    "type": "object", "required": ["ac", "session_id", "phone", "ok", "method", "outcome", "message",
                                   "message_zh"],
    "properties": {
        "ac": {"type": "string"}, "session_id": {"type": "string"}, "phone": {"type": "string"},
        "ok": {"type": "boolean"},
        "method": {"enum": ["dm", "portal", "controller", "none", "unsupported"]},
        "outcome": {"enum": ["dm", "portal", "controller", "gone", "refused", "not_found", "no_answer",
                             "unknown_ac", "no_remote_logout"],
                    "description": "dm/portal: offline by RFC 5176 Disconnect / Portal REQ_LOGOUT; "
                                   "controller: unauthorised on the gateway's controller (UniFi); "
                                   "gone: the AC no longer knew it; refused: Disconnect-NAK; "
                                   "no_answer: the AC answered neither (may still be online); "
                                   "no_remote_logout: the gateway (openNDS, Omada) cannot be told to drop a "
                                   "client, nothing was sent (still online)"},
        "error_cause": {"type": ["integer", "null"]}, "detail": {"type": "string"},
        "message": {"type": "string"}, "message_zh": {"type": "string"},
    },
}
PLAN_OUTCOME: dict[str, Any] = {
    "type": "object", "required": ["ac", "session_id", "phone", "ok", "outcome", "message", "message_zh"],
    "properties": {
        "ac": {"type": "string"}, "session_id": {"type": "string"}, "phone": {"type": "string"},
        "ok": {"type": "boolean"},
        "outcome": {"enum": ["coa", "disconnected", "next_login", "coa_failed", "disconnect_failed",
                             "superseded"],
                    "description": "coa: new limits applied; disconnected: already past them; "
                                   "next_login / coa_failed: the AC took no CoA, the session keeps "
                                   "its previous limits until it ends (its plan reads "
                                   "'<plan>@<revision>'); superseded: a newer change took over"},
        "session_timeout": {"type": ["integer", "null"]}, "up_kbps": {"type": ["integer", "null"]},
        "down_kbps": {"type": ["integer", "null"]}, "detail": {"type": "string"},
        "message": {"type": "string"}, "message_zh": {"type": "string"},
    },
}
KICK_RESULT: dict[str, Any] = {
    "type": "object", "required": ["kicks", "message", "message_zh"],
    "properties": {"kicks": {"type": "array", "items": KICK_OUTCOME}, "message": {"type": "string"},
                   "message_zh": {"type": "string"}},
}
PLAN_RESULT: dict[str, Any] = {
    "type": "object", "required": ["plan", "sessions", "counts", "details", "message", "message_zh"],
    "properties": {
        "plan": {"type": "string"}, "sessions": _NUM,
        "counts": {"type": "object", "additionalProperties": _NUM},
        "details": {"type": "array", "items": PLAN_OUTCOME,
                    "description": "at most 500, those not applied first"},
        "message": {"type": "string"}, "message_zh": {"type": "string"},
    },
}
USER_PLAN_RESULT: dict[str, Any] = {
    "type": "object", "required": ["phone", "before", "after", "sessions", "message", "message_zh"],
    "properties": {
        "phone": {"type": "string"}, "before": {"type": ["string", "null"]},
        "after": {"type": ["string", "null"], "description": "null: the override was removed"},
        "sessions": {"type": "array", "items": PLAN_OUTCOME,
                     "description": "one outcome per online session (none when the override was "
                                    "removed: sessions keep their limits)"},
        "message": {"type": "string"}, "message_zh": {"type": "string"},
    },
}
JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind", "target", "state", "finished", "created", "updated", "total", "done",
                 "result", "error", "status_url"],
    "properties": {
        "id": {"type": "string"},
        "kind": {"enum": ["kick_session", "kick_phone", "plan_apply", "user_plan"]},
        "target": {"type": "string",
                   "description": "'<ac>|<session id>', a phone (kick_phone, user_plan), or a plan"},
        "actor": {"type": "string"},
        "state": {"enum": ["queued", "running", "done", "failed", "interrupted"],
                  "description": "interrupted: the web process running it stopped; the outcome "
                                 "is unknown (check the sessions)"},
        "finished": {"type": "boolean"}, "created": {"type": "number"}, "updated": {"type": "number"},
        "total": _NUM, "done": _NUM,
        "result": {"oneOf": [{"type": "null"}, KICK_RESULT, PLAN_RESULT, USER_PLAN_RESULT],
                   "description": "null until the job is done"},
        "error": {"type": "string"},
        "status_url": {"type": "string", "description": "where to poll this job"},
    },
}


def job_body(job: Job) -> dict[str, Any]:
    return {**job.as_dict(), "status_url": url_for("api.jobs_get_job", job_id=job.id)}


def busy(exc: JobBusy) -> ApiError:
    return ApiError(503, "busy", exc.message_en, exc.message_zh)


@operation("/jobs/{job_id}", "GET", scope="read", tag="jobs",
           summary="A background job (kick, plan change): state, progress and, when finished, result",
           description="Poll about once a second until 'finished' is true.",
           response=JOB_SCHEMA, errors=(404,))
def get_job(job_id: str) -> Any:
    job = job_store().get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r} (or it expired)")
    return job_body(job)
