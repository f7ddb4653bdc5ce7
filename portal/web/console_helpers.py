"""What every console view uses: the consoles' services (accounts, audit, sign-in sessions),
the console language (``tr``), the signed-in account, CSRF and CSP nonces, the navigation bar,
auditing, and the access checks ``login_required`` and ``require_venue``.

The blueprint, its request hooks and the sign-in / account views are in
:mod:`portal.web.console`, which re-exports these names; views import them from there.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    abort,
    current_app,
    g,
    redirect,
    request,
    session,
    url_for,
)

from portal.admin.accounts import Account, AccountStore, Role
from portal.admin.audit import AuditLog
from portal.runtime.settings import Settings
from portal.state import keys
from portal.web.client_address import client_address
from portal.web.console_texts import NAV_LABELS
from portal.web.wiring import services

__all__ = [
    "ConsoleServices",
    "audit",
    "client_ip",
    "console_nav",
    "console_services",
    "csp_nonce",
    "csrf_token",
    "current_account",
    "login_required",
    "require_venue",
    "tr",
]

_F = TypeVar("_F", bound=Callable[..., Any])



class ConsoleServices:
    """The consoles' accounts and audit (``services().console``: ``portal/web/wiring.py``)."""

    def __init__(self, settings: Settings, redis: Any) -> None:
        self.settings = settings
        self.redis = redis
        console = settings.console
        self.accounts = AccountStore(redis, max_failures=console.max_failures,
                                     max_failures_per_account=console.max_failures_per_account,
                                     max_failures_per_address=console.max_failures_per_address,
                                     lockout_seconds=console.lockout_seconds,
                                     session_seconds=console.session_hours * 3600)
        self.audit = AuditLog(redis)

    def audit_failed_sign_in(self, actor: str, action: str, target: str, ip: str) -> None:
        """Audit a failed or locked-out sign-in, at most ``failed_sign_in_audit_per_minute``
        fleet-wide: strangers must not be able to grow the 7-day audit trail without bound
        (the rest is counted, and logged)."""
        minute = keys.console_failure_audit_minute(int(time.time()) // 60)
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(minute)
        pipe.expire(minute, 120)
        if int(pipe.execute()[0]) > self.settings.console.failed_sign_in_audit_per_minute:
            self.redis.incr(keys.console_unaudited_failures())
            return
        self.audit.record(actor, "account", action, target, ip=ip)

    # -- server-side sign-in sessions (kept by the account store: portal/admin/accounts.py) ----------
    def open_session(self, username: str) -> str:
        return self.accounts.open_session(username)

    def session_user(self, session_id: str) -> str | None:
        return self.accounts.session_user(session_id)

    def close_session(self, session_id: str, username: str) -> None:
        self.accounts.close_session(session_id, username)

    def close_all_sessions(self, username: str, keep: str | None = None) -> None:
        """End every sign-in of ``username`` (but ``keep``)."""
        self.accounts.end_sessions(username, keep)


def console_services() -> ConsoleServices:
    return services().console


# -- helpers for every console view ---------------------------------------------------------------

def tr(zh: str, en: str) -> str:
    """The text in the console language (cookie ``cw_lang``, else Accept-Language; Chinese by default)."""
    return en if getattr(g, "console_lang", "zh") == "en" else zh


def current_account() -> Account | None:
    return getattr(g, "account", None)


def client_ip() -> str:
    """The client's address (kept for callers; the one resolver is portal.web.client_address)."""
    return client_address()


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return str(token)


def csp_nonce() -> str:
    """A per-response nonce: console pages run only our static scripts and inline scripts
    carrying it (``<script nonce="{{ csp_nonce() }}">``)."""
    nonce = getattr(g, "csp_nonce", None)
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return str(nonce)


# (endpoint, who sees it) — links whose endpoint is not in this build are left out; their
# labels are console_texts.NAV_LABELS.
_NAV = (
    ("noc_dashboard.dashboard", "noc"),
    ("noc_sessions.index", "noc"),
    ("noc_users.index", "noc"),
    ("noc_plans.index", "noc"), ("noc_acs.index", "noc"),
    ("noc_blocklist.index", "noc"),
    ("noc_logs.index", "noc"),
    ("venue_console.index", "any"),
    ("venue_campaigns.index", "any"),
    ("reports.index", "any"),
    ("console.users", "admin"),
    ("noc_tokens.index", "admin"),
    ("venue_tokens.index", "venue"),
    ("console.audit_log", "noc"),
)


def console_nav() -> list[tuple[str, str, bool]]:
    """(label, url, active) for the signed-in account's navigation bar."""
    account = current_account()
    if account is None:
        return []
    out = []
    for endpoint, who in _NAV:
        if endpoint not in current_app.view_functions:
            continue
        if ((who == "noc" and not account.is_noc) or (who == "admin" and not account.is_admin)
                or (who == "venue" and account.role is not Role.VENUE)):
            continue
        out.append((tr(*NAV_LABELS[endpoint]), url_for(endpoint), False))
    # One item is current: the one whose URL is the longest prefix of this page's path (the
    # dashboard is /noc, so a bare prefix test also lit it on /noc/sessions).
    matches = [i for i, (_, url, _) in enumerate(out)
               if request.path == url or request.path.startswith(url.rstrip("/") + "/")]
    if matches:
        best = max(matches, key=lambda i: len(out[i][1]))
        out[best] = (out[best][0], out[best][1], True)
    return out


def audit(area: str, action: str, target: str, before: Any = None, after: Any = None) -> None:
    """Record an action of the signed-in account (call after the change succeeded)."""
    account = current_account()
    actor = f"user:{account.username}" if account else "anonymous"
    console_services().audit.record(actor, area, action, target, before, after, client_ip())


def login_required(*roles: Role) -> Callable[[_F], _F]:
    """Signed in (and, if ``roles`` are given, holding one of them) or no entry."""
    def decorate(view: _F) -> _F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            account = current_account()
            if account is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if roles and account.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


def require_venue(venue_id: str) -> None:
    """404 unless the signed-in account may see ``venue_id``."""
    account = current_account()
    if account is None or not account.can_see_venue(venue_id):
        abort(404)
