"""NOC console: access controllers (``/noc/acs``) — create, edit, disable/enable, rotate secrets,
and each AC's live state.

Secrets are never shown again after they are set: a new AC without a typed secret gets a
generated one, and :func:`rotate` makes new ones; either way the page that answers the POST is
the only place the secret appears (no-store). The audit log records *that* a secret was
rotated, never the value. Edits reach the RADIUS servers and the listener within their
registry cache TTL (``radius.ac_cache_ttl``, default 5 s): after a rotation the old secret is
refused once that has passed.

Live state (:func:`live_state`) is what the processes already record in ``keys.ac_stats``:
the ac-listener (portal protocol: ``last_packet_at``, ``ntf_logout``, ``bad_auth``, …), the
web processes' logins on the AC (``portal_login_ok``, ``portal_timeout``, … see
``portal/noc/ac_outcomes.py``), the RADIUS servers (``radius_last_at``, ``radius_rx``,
``radius_drop:<reason>``, see ``radius/ac_activity.py``), plus online users from the session
registry.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ac_adapters.gateways.opennds import faskey_ok
from ac_adapters.profiles import PROFILES
from portal.aaa.acs import (
    GATEWAY_KINDS,
    MAX_PORTAL_SOURCES,
    RADIUS_DIALECTS,
    REDIRECT_KEY_LENGTH,
    AcRecord,
    AcRegistry,
)
from portal.admin.accounts import Role
from portal.errors import ValidationError
from portal.runtime.settings import SettingsError, ma_mode
from portal.state import keys
from portal.web.console import audit, login_required, tr
from portal.web.noc import texts as T
from portal.web.noc.noc_forms import FormError, flash_error, form_bool, form_number, form_text, new_secret
from portal.web.wiring import services

__all__ = ["ROTATE", "ac_public", "bp", "check_proxy_links", "check_secret", "live_state", "registry",
           "rotate"]

bp = Blueprint("noc_acs", __name__, url_prefix="/noc/acs")

ROTATE = ("portal", "radius", "both")
_SECRET_OK = re.compile(r"^[\x21-\x7e]{8,64}$")
SILENT_AFTER = 900.0      # seconds without any packet before an AC shows as "silent"
_FLAGS = ("rfc5176", "heartbeat", "user_sync", "strip_realm", "mac_auth", "enabled",
          "client_address_check", "radius_proxy", "dm_via_proxy", "json_login")
_MA_FIELDS = ("require_message_authenticator", "limit_proxy_state")   # "", yes, no or auto


def registry() -> AcRegistry:
    return AcRegistry(services().redis)


def ac_public(record: AcRecord) -> dict[str, Any]:
    """The record without its secrets (for pages, the API and the audit log)."""
    data = dataclasses.asdict(record)
    data.pop("secret")
    data.pop("radius_secret")
    data.pop("redirect_key")
    data.pop("faskey")
    data.pop("openapi_client")
    data["addresses"] = list(record.addresses)
    data["portal_sources"] = list(record.portal_sources)
    data["separate_radius_secret"] = bool(record.radius_secret)
    data["redirect_key_set"] = bool(record.redirect_key)
    data["faskey_set"] = bool(record.faskey)
    data["openapi_client_set"] = bool(record.openapi_client)
    return data


def check_secret(value: str) -> str:
    if not _SECRET_OK.match(value):
        raise FormError(*T.SECRET_FORMAT)
    return value


def check_proxy_links(reg: AcRegistry, record: AcRecord) -> None:
    """The RADIUS proxy fields of ``record`` against the other records (FormError if wrong):
    ``radius_via`` names an existing proxy record, ``dm_via_proxy`` has a proxy to go through,
    and a record stops being a proxy only once no AC names it any more."""
    via = record.radius_via
    if via:
        proxy = reg.get_or_none(via)
        if via == record.name or proxy is None or not proxy.radius_proxy:
            raise FormError(*T.via_not_a_proxy(via))
    if record.dm_via_proxy and not via:
        raise FormError(*T.DM_VIA_PROXY_NEEDS_VIA)
    if not record.radius_proxy:
        behind = sorted(r.name for r in reg.all() if r.radius_via == record.name)
        if behind:
            raise FormError(*T.proxy_still_used(", ".join(behind)))


def rotate(record: AcRecord, which: str, portal_secret: str = "",
           radius_secret: str = "") -> tuple[AcRecord, dict[str, str]]:
    """A copy of ``record`` with new secret(s) and what to show once ({"portal_secret": …,
    "radius_secret": …}). Typed values are used if given, else generated. Rotating only the
    portal secret of an AC whose RADIUS secret follows it pins the RADIUS secret to the old
    value, so RADIUS keeps working."""
    if which not in ROTATE:
        raise FormError(*T.CHOOSE_ROTATE)
    shown: dict[str, str] = {}
    changes: dict[str, str] = {}
    if which in ("portal", "both"):
        new = check_secret(portal_secret) if portal_secret else new_secret()
        changes["secret"] = shown["portal_secret"] = new
        if which == "portal" and not record.radius_secret:
            changes["radius_secret"] = record.secret
    if which in ("radius", "both"):
        new = check_secret(radius_secret) if radius_secret else new_secret()
        changes["radius_secret"] = shown["radius_secret"] = new
    return dataclasses.replace(record, **changes), shown  # type: ignore[arg-type]


def _f(raw: Any) -> float | None:
    try:
        return float(raw) if raw not in (None, b"", "") else None
    except (TypeError, ValueError):
        return None


def live_state(records: list[AcRecord], now: float | None = None) -> dict[str, dict[str, Any]]:
    """Per AC: last RADIUS / portal packet, online users, drop counters, a summary ``state``
    ("never", "ok", "silent", "disabled"). One pipelined round trip for all ACs."""
    now = time.time() if now is None else now
    redis = services().redis
    pipe = redis.pipeline(transaction=False)
    for r in records:
        pipe.hgetall(keys.ac_stats(r.name))
        pipe.hlen(keys.ac_sessions(r.name))
    replies = pipe.execute() if records else []
    out: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(records):
        raw = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
               for k, v in replies[2 * i].items()}
        radius_at = _f(raw.get("radius_last_at"))
        # portal packets: the listener's last notice, or our last login the AC answered
        portal_at = max((t for t in (_f(raw.get("last_packet_at")), _f(raw.get("portal_last_ok_at")))
                         if t is not None), default=None)
        last = max((t for t in (radius_at, portal_at) if t is not None), default=None)
        drops = {k.removeprefix("radius_drop:"): int(v) for k, v in raw.items()
                 if k.startswith("radius_drop:")}
        profile = PROFILES.get(r.vendor)
        state = ("disabled" if not r.enabled else "never" if last is None
                 else "ok" if now - last < SILENT_AFTER else "silent")
        out[r.name] = {
            "state": state,
            "online_users": int(replies[2 * i + 1]),
            "last_seen": last,
            "radius_last_at": radius_at,
            "radius_rx": int(raw.get("radius_rx", 0)),
            "radius_drops": drops,
            "radius_bad_authenticator": drops.get("bad_authenticator", 0)
            + drops.get("bad_message_authenticator", 0),
            "radius_last_drop": raw.get("radius_last_drop") or None,
            "radius_last_drop_at": _f(raw.get("radius_last_drop_at")),
            "portal_last_at": portal_at,
            "portal_bad_authenticator": int(raw.get("bad_auth", 0))
            + int(raw.get("portal_reply_bad_auth", 0)),
            "portal_logins_ok": int(raw.get("portal_login_ok", 0)),
            "portal_logins_failed": int(raw.get("portal_login_failed", 0)),
            "portal_timeouts": int(raw.get("portal_timeout", 0)),
            "portal_last_error": raw.get("portal_last_error") or None,
            "portal_last_error_at": _f(raw.get("portal_last_error_at")),
            "portal_dropped": int(raw.get("dropped", 0)),
            "ntf_logout": int(raw.get("ntf_logout", 0)),
            "last_ntf_logout_at": _f(raw.get("last_ntf_logout_at")),
            "heartbeat": bool(r.heartbeat or (profile is not None and profile.heartbeat)),
            "user_sync": bool(r.user_sync or (profile is not None and profile.user_sync)),
            "user_sync_replies": int(raw.get("user_sync_reply", 0)),
        }
    return out


# -- form ----------------------------------------------------------------------------------------

def _address_list(form: Any, key: str) -> tuple[str, ...]:
    return tuple(a for a in re.split(r"[\s,，;]+", str(form.get(key, ""))) if a)


def _record_from_form(form: Any, name: str, old: AcRecord | None) -> AcRecord:
    addresses = _address_list(form, "addresses")
    if not addresses:
        raise FormError(*T.NO_ADDRESS)
    portal_sources = _address_list(form, "portal_sources")
    if len(portal_sources) > MAX_PORTAL_SOURCES:
        raise FormError(*T.too_many_portal_sources(MAX_PORTAL_SOURCES))
    vendor = str(form.get("vendor", ""))
    if vendor not in PROFILES:
        raise FormError(*T.CHOOSE_VENDOR)
    dialect = str(form.get("radius_dialect", ""))
    if dialect and dialect not in RADIUS_DIALECTS:
        raise FormError(*T.CHOOSE_DIALECT)
    try:   # a select; "1" (the checkbox this once was) still means yes
        ma_modes = {f: ma_mode(str(form.get(f, "")), f, inherit=True) for f in _MA_FIELDS}
    except SettingsError:
        raise FormError(*T.MA_MODE_INVALID) from None
    port = form_number(form, "port", T.AC_LABELS["port"], integer=True)
    coa_port = form_number(form, "coa_port", T.AC_LABELS["coa_port"], integer=True)
    for value, label in ((port, T.AC_LABELS["port"]), (coa_port, T.AC_LABELS["coa_port"])):
        if value is not None and value > 65535:
            raise FormError(*T.port_out_of_range(label))
    timeout = str(form.get("timeout", "")).strip()
    try:
        timeout_s = float(timeout) if timeout else 0.0
    except ValueError:
        raise FormError(*T.TIMEOUT_NOT_NUMBER) from None
    if not 0 <= timeout_s <= 60:
        raise FormError(*T.TIMEOUT_RANGE)
    retries = form_number(form, "retries", T.AC_LABELS["retries"], integer=True) or 0
    if retries > 10:
        raise FormError(*T.RETRIES_TOO_MANY)
    values: dict[str, Any] = {
        "name": name, "addresses": addresses, "portal_sources": portal_sources, "vendor": vendor,
        "bas_ip": form_text(form, "bas_ip", T.AC_LABELS["bas_ip"], max_len=45),
        "port": port or 2000, "coa_port": coa_port or 3799, "radius_dialect": dialect,
        "timeout": timeout_s, "retries": retries,
        "description": form_text(form, "description", T.AC_LABELS["description"], max_len=200),
        **{flag: form_bool(form, flag) for flag in _FLAGS},
        **ma_modes,
    }
    typed_key = str(form.get("redirect_key", "")).strip()
    if typed_key and len(typed_key) != REDIRECT_KEY_LENGTH:
        raise FormError(*T.redirect_key_length(REDIRECT_KEY_LENGTH))
    # Like the secrets, the key is never shown again: empty keeps it, the box clears it.
    values["redirect_key"] = ("" if form_bool(form, "clear_redirect_key") else
                              typed_key or (old.redirect_key if old is not None else ""))
    values["kind"] = str(form.get("kind", "portal"))
    if values["kind"] not in GATEWAY_KINDS:
        raise FormError(*T.CHOOSE_GATEWAY_KIND)
    typed_faskey = str(form.get("faskey", "")).strip()   # write-only like the redirect key
    if typed_faskey and not faskey_ok(typed_faskey):
        raise FormError(*T.FASKEY_FORMAT)
    values["faskey"] = typed_faskey or (old.faskey if old is not None else "")
    if values["kind"] == "opennds" and not values["faskey"]:
        raise FormError(*T.OPENNDS_NEEDS_FASKEY)
    values["controller_url"] = str(form.get("controller_url", "")).strip()[:300]
    typed_openapi = str(form.get("openapi_client", "")).strip()[:260]     # write-only as well
    values["openapi_client"] = typed_openapi or (old.openapi_client if old is not None else "")
    values["radius_via"] = str(form.get("radius_via", "")).strip()
    if values["radius_proxy"] and values["radius_via"]:
        raise FormError(*T.PROXY_BEHIND_PROXY)
    if old is not None:
        values["secret"], values["radius_secret"] = old.secret, old.radius_secret
    else:
        typed = str(form.get("secret", "")).strip()
        typed_radius = str(form.get("radius_secret", "")).strip()
        values["secret"] = check_secret(typed) if typed else new_secret()
        values["radius_secret"] = check_secret(typed_radius) if typed_radius else ""
    return AcRecord(**values)


def _form_values(record: AcRecord | None) -> dict[str, Any]:
    if record is None:
        return {"vendor": "huawei-v2", "port": "2000", "coa_port": "3799", "rfc5176": True,
                "strip_realm": True, "enabled": True, "client_address_check": True}
    data = ac_public(record)
    data["addresses"] = ", ".join(record.addresses)
    data["portal_sources"] = ", ".join(record.portal_sources)
    data["timeout"] = "" if not record.timeout else f"{record.timeout:g}"
    data["retries"] = "" if not record.retries else str(record.retries)
    return data


def _typed(form: Any) -> dict[str, Any]:
    """What was typed, for re-showing a refused form (secrets are not echoed back)."""
    data: dict[str, Any] = {k: str(v) for k, v in form.items()
                            if k not in ("csrf_token", "secret", "radius_secret", "redirect_key", "faskey",
                                         "openapi_client")}
    for flag in _FLAGS:
        data[flag] = form_bool(form, flag)
    return data


def _render(record: AcRecord | None, values: dict[str, Any], status: int = 200) -> tuple[str, int]:
    live = live_state([record])[record.name] if record is not None else None
    proxies = [r.name for r in registry().all()
               if r.radius_proxy and (record is None or r.name != record.name)]
    return render_template("noc/ac_edit.html", ac=record, values=values, live=live,
                           profiles=PROFILES, dialects=RADIUS_DIALECTS, kinds=GATEWAY_KINDS,
                           proxies=proxies), status


def _not_found() -> tuple[str, int]:
    return render_template("console/error.html", status=404,
                           message=tr(*T.NO_SUCH_AC)), 404


# -- views ---------------------------------------------------------------------------------------

@bp.route("", strict_slashes=False)
@login_required(Role.ADMIN, Role.NOC)
def index() -> str:
    records = registry().all()
    return render_template("noc/acs.html", acs=records, live=live_state(records), profiles=PROFILES)


@bp.route("/new", methods=["GET", "POST"])
@login_required(Role.ADMIN, Role.NOC)
def create() -> str | tuple[str, int]:
    if request.method == "GET":
        return _render(None, _form_values(None))
    reg = registry()
    try:
        name = form_text(request.form, "name", T.AC_LABELS["name"], required=True, max_len=64)
        if reg.get_or_none(name) is not None:
            raise FormError(*T.ac_exists(name))
        record = _record_from_form(request.form, name, None)
        check_proxy_links(reg, record)
        reg.put(record)
    except (FormError, ValidationError) as exc:
        flash_error(exc)
        return _render(None, _typed(request.form), 400)
    audit("noc", "ac.create", record.name, None, ac_public(record))
    shown = {"portal_secret": record.secret}
    if record.radius_secret:
        shown["radius_secret"] = record.radius_secret
    return render_template("noc/ac_secret.html", ac=record, shown=shown, created=True), 201


@bp.route("/<name>", methods=["GET", "POST"])
@login_required(Role.ADMIN, Role.NOC)
def edit(name: str) -> str | tuple[str, int] | BaseResponse:
    reg = registry()
    old = reg.get_or_none(name)
    if old is None:
        return _not_found()
    if request.method == "GET":
        return _render(old, _form_values(old))
    try:
        record = _record_from_form(request.form, name, old)
        check_proxy_links(reg, record)
        reg.put(record)
    except (FormError, ValidationError) as exc:
        flash_error(exc)
        return _render(old, {**_typed(request.form), "name": name}, 400)
    audit("noc", "ac.update", name, ac_public(old), ac_public(record))
    flash(tr(*T.ac_saved(name)), "ok")
    return redirect(url_for("noc_acs.edit", name=name))


@bp.post("/<name>/disable")
@login_required(Role.ADMIN, Role.NOC)
def disable(name: str) -> BaseResponse | tuple[str, int]:
    return _set_enabled(name, False)


@bp.post("/<name>/enable")
@login_required(Role.ADMIN, Role.NOC)
def enable(name: str) -> BaseResponse | tuple[str, int]:
    return _set_enabled(name, True)


def _set_enabled(name: str, enabled: bool) -> BaseResponse | tuple[str, int]:
    reg = registry()
    old = reg.get_or_none(name)
    if old is None:
        return _not_found()
    reg.put(dataclasses.replace(old, enabled=enabled))
    audit("noc", "ac.enable" if enabled else "ac.disable", name, {"enabled": old.enabled},
          {"enabled": enabled})
    flash(tr(*T.ac_enabled(name)) if enabled else tr(*T.ac_disabled(name)), "ok")
    return redirect(url_for("noc_acs.edit", name=name))


@bp.post("/<name>/rotate")
@login_required(Role.ADMIN, Role.NOC)
def rotate_secret(name: str) -> str | tuple[str, int] | BaseResponse:
    reg = registry()
    old = reg.get_or_none(name)
    if old is None:
        return _not_found()
    try:
        record, shown = rotate(old, request.form.get("which", ""),
                               str(request.form.get("portal_secret", "")).strip(),
                               str(request.form.get("radius_secret", "")).strip())
    except FormError as exc:
        flash_error(exc)
        return redirect(url_for("noc_acs.edit", name=name))
    reg.put(record)
    audit("noc", "ac.rotate_secret", name, None,
          {"rotated": [k.removesuffix("_secret") for k in shown]})
    return render_template("noc/ac_secret.html", ac=record, shown=shown, created=False)

