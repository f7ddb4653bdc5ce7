"""NOC console: users (``/noc/users``) — find a phone, see its plan, usage, validity, bound
devices and recent logins; change its plan (a job: CoA to live sessions where the AC supports
it), unbind a device, kick its sessions. Every change is audited with before/after (area "noc")."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.aaa.credentials import normalise_phone
from portal.aaa.sessions import normalise_mac_or_none
from portal.admin.accounts import Role
from portal.errors import NotFound, ValidationError
from portal.noc.jobs import JobBusy
from portal.web.console import audit, client_ip, login_required, tr
from portal.web.noc import texts as T
from portal.web.noc.noc_jobs import start_user_plan
from portal.web.noc.noc_sessions import actor, fmt_bytes, fmt_seconds, noc_actions, user_directory

__all__ = ["bp"]

bp = Blueprint("noc_users", __name__, url_prefix="/noc/users")


def _phone_or_404(phone: str) -> str:
    try:
        return normalise_phone(phone)
    except ValidationError:
        abort(404)


@bp.route("", strict_slashes=False)
@login_required(Role.ADMIN, Role.NOC)
def index() -> str | BaseResponse | tuple[str, int]:
    raw = request.args.get("phone", "").strip()
    if raw:
        try:
            return redirect(url_for("noc_users.user", phone=normalise_phone(raw)))
        except ValidationError:
            flash(tr(*T.NOT_A_PHONE), "error")
            return render_template("noc/users.html", phone=raw), 400
    return render_template("noc/users.html", phone="")


@bp.route("/<phone>")
@login_required(Role.ADMIN, Role.NOC)
def user(phone: str) -> str:
    phone = _phone_or_404(phone)
    directory = user_directory()
    profile = directory.profile(phone)
    plans = [p for p in directory.plans.all() if not p.retired]
    return render_template("noc/user.html", p=profile, plans=plans, fmt_bytes=fmt_bytes,
                           fmt_seconds=fmt_seconds)


@bp.post("/<phone>/plan")
@login_required(Role.ADMIN, Role.NOC)
def change_plan(phone: str) -> BaseResponse:
    """Set the phone's plan in a job (CoA to each online session waits on its AC) and show the
    job's page, which comes back here when it has finished."""
    phone = _phone_or_404(phone)
    name = request.form.get("plan", "").strip() or None
    back = url_for("noc_users.user", phone=phone)
    try:
        job = start_user_plan(noc_actions(), phone, name, actor=actor(), area="noc", ip=client_ip())
    except (NotFound, ValidationError) as exc:
        flash(tr(*T.CANNOT_CHANGE_PLAN) + str(exc), "error")
        return redirect(back)
    except JobBusy:
        flash(tr(*T.JOBS_FULL), "error")
        return redirect(back)
    return redirect(url_for("noc_jobs.job", job_id=job.id, back=back))


@bp.post("/<phone>/unbind")
@login_required(Role.ADMIN, Role.NOC)
def unbind(phone: str) -> BaseResponse:
    phone = _phone_or_404(phone)
    mac = normalise_mac_or_none(request.form.get("mac", ""))
    directory = user_directory()
    bound = {m.mac: m for m in directory.bound_macs(phone)}
    if mac is None or mac not in bound:
        flash(tr(*T.MAC_NOT_BOUND), "error")
        return redirect(url_for("noc_users.user", phone=phone))
    directory.credentials.unbind_mac(mac)
    audit("noc", "user.unbind_mac", phone, {"mac": mac, "expires": bound[mac].expires}, None)
    flash(tr(*T.mac_unbound(mac)), "ok")
    return redirect(url_for("noc_users.user", phone=phone))
