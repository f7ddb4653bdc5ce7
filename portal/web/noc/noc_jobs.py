"""NOC console: background jobs (``/noc/jobs/<id>``), and how the consoles and the API start them.

A kick (one session, or every session of a phone), a changed plan applied to its online
sessions and a phone's new plan applied to its sessions wait on ACs (RFC 5176 timeouts ×
retries, the Portal REQ_LOGOUT fallback): they run as jobs (``portal/noc/jobs.py``) so the
request answers at once. The console then shows the job's page, which reloads itself
(``Refresh`` header) until the job has finished and then lists what happened to each session;
the API answers ``202`` with the job and its ``status_url`` (``GET /api/v1/jobs/{job_id}``,
``portal/web/api/api_jobs.py``).

Every job is audited twice (area ``noc`` or ``api``): when it is asked for (the request, with
the job id) and when it has finished (``….done``, with the outcome).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.aaa.plans import Plan
from portal.aaa.sessions import OnlineSession
from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from portal.errors import NotFound
from portal.noc.jobs import Job, JobRunner, JobStore, Progress
from portal.noc.kick import KickOutcome, NocActions
from portal.web.console import login_required, tr
from portal.web.noc import texts as T
from portal.web.wiring import services

__all__ = ["bp", "job_runner", "job_store", "safe_back", "start_kick", "start_plan_change",
           "start_user_plan"]

bp = Blueprint("noc_jobs", __name__, url_prefix="/noc/jobs")

KICK_KINDS = ("kick_session", "kick_phone")
PLAN_KIND = "plan_apply"
USER_PLAN_KIND = "user_plan"


def job_store() -> JobStore:
    return services().job_store


def job_runner() -> JobRunner:
    """This process's runner (built after a fork in the process that uses it)."""
    return services().job_runner.get()


def _audit_when_done(redis: Any, actor: str, area: str, ip: str, action: str,
                     target: str, actor_name: str = "") -> Callable[[Job], None]:
    def record(job: Job) -> None:
        result = job.result
        if isinstance(result, dict) and "details" in result:
            # A plan change over many sessions: the counts and the message, not every session.
            result = {k: v for k, v in result.items() if k != "details"}
        AuditLog(redis).record(actor, area, f"{action}.done", target, {"job": job.id},
                               {"state": job.state, "result": result, "error": job.error}, ip,
                               actor_name=actor_name)
    return record


def start_kick(actions: NocActions, sessions: list[OnlineSession], *, kind: str, target: str,
               actor: str, area: str, ip: str, before: Any, actor_name: str = "") -> Job:
    """Kick ``sessions`` in a job; audits the request now and the outcome when done.
    Raises ``portal.noc.jobs.JobBusy``."""
    refs = [(s.ac, s.session_id) for s in sessions]

    def work(progress: Progress) -> dict[str, Any]:
        outcomes: list[KickOutcome] = []
        for i, (ac, sid) in enumerate(refs):
            with contextlib.suppress(NotFound):        # ended meanwhile: nothing to do
                outcomes.append(actions.kick_session(ac, sid))
            progress(i + 1, len(refs))
        return kick_result(outcomes)

    action = "session.kick" if kind == "kick_session" else "session.kick_phone"
    redis = actions.redis

    def audit_request(job: Job) -> None:
        AuditLog(redis).record(actor, area, action, target, before, {"job": job.id}, ip,
                               actor_name=actor_name)

    return job_runner().submit(kind, target, actor, work, total=len(refs), on_queued=audit_request,
                               on_done=_audit_when_done(redis, actor, area, ip, action, target,
                                                        actor_name))


def kick_result(outcomes: list[KickOutcome]) -> dict[str, Any]:
    ok = sum(1 for o in outcomes if o.ok)
    if not outcomes:
        zh, en = T.KICK_NOTHING
    else:
        zh, en = T.kicked(ok, len(outcomes))
    return {"kicks": [o.as_dict() for o in outcomes], "message": en, "message_zh": zh}


def start_plan_change(actions: NocActions, before: Plan, after: Plan, *, actor: str, area: str,
                      ip: str, actor_name: str = "") -> Job:
    """Apply a changed plan to its online sessions in a job (see ``NocActions``)."""
    def work(progress: Progress) -> dict[str, Any]:
        return actions.apply_plan_change(before, after, progress).as_dict()

    return job_runner().submit(PLAN_KIND, after.name, actor, work,
                               on_done=_audit_when_done(actions.redis, actor, area, ip,
                                                        "plan.apply", after.name, actor_name))


def start_user_plan(actions: NocActions, phone: str, plan_name: str | None, *, actor: str, area: str,
                    ip: str, actor_name: str = "") -> Job:
    """Set (or with None remove) a phone's plan override and apply it to its online sessions
    (CoA/Disconnect, each waiting on its AC) in a job. The plan is checked now, so an unknown
    or retired one is refused by the request (NotFound / ValidationError), not by the job;
    the override itself is set by the job, so a refused job (JobBusy) changes nothing."""
    actions.assignable(plan_name)
    before = {"override": actions.plans.user_plan(phone)}
    redis = actions.redis

    def work(progress: Progress) -> dict[str, Any]:
        change = actions.change_plan(phone, plan_name)
        progress(len(change.sessions), len(change.sessions))
        return change.as_dict()

    def audit_request(job: Job) -> None:
        AuditLog(redis).record(actor, area, "user.plan", phone, before,
                               {"plan": plan_name, "job": job.id}, ip, actor_name=actor_name)

    return job_runner().submit(USER_PLAN_KIND, phone, actor, work, on_queued=audit_request,
                               on_done=_audit_when_done(redis, actor, area, ip, "user.plan", phone,
                                                        actor_name))


def safe_back(url: str | None, default: str) -> str:
    """A console path to return to (never another site)."""
    if url and url.startswith("/noc/") and "//" not in url and "\\" not in url:
        return url
    return default


# -- views -------------------------------------------------------------------------------------

@bp.route("/<job_id>")
@login_required(Role.ADMIN, Role.NOC)
def job(job_id: str) -> BaseResponse | tuple[str, int]:
    found = job_store().get(job_id)
    back = safe_back(request.args.get("back"), url_for("noc_sessions.index"))
    if found is None:
        message = tr(*T.NO_SUCH_JOB)
        return render_template("console/error.html", status=404, message=message), 404
    html = render_template("noc/job.html", job=found, back=back, tr=tr)
    response = current_app.make_response(html)
    if not found.finished:
        response.headers["Refresh"] = "1"       # reload until it has finished
    response.headers["Cache-Control"] = "no-store"
    return response
