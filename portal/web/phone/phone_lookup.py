"""Which phone a request WITHOUT the AC's redirect is about: OS probes, the RFC 8908 API, a bare
``/portal``, the status page opened without its token.

Two things can identify it, and each only where the portal can verify it:

* its login, found by the request's observed address — only for a login through an AC whose
  ``client_address_check`` is on (behind NAT the observed address is the NAT's: it would name
  whichever phone happens to hold that address on some AC, not the requester);
* the last AC redirect it brought (``portal.phone.phone_memory``): by observed address under the same
  rule, else the signed cookie of the browser that brought it.

Its own login (:func:`own_login`: the status page, the RFC 8908 API's figures) is the first, or
the session cookie the browser that logged in got with its success page — the same sealed token
as the status link, so the browser that logged in finds its status without the link, where
nothing else can be verified (NAT). A remembered redirect only says whether its login is online
(:func:`remembered_online`): it is a claim the browser brought, which anybody can forge for
another device, so it never shows that login's figures or its logout.
"""

from __future__ import annotations

import contextlib
from typing import TypeVar

from flask import request
from werkzeug.wrappers import Response as BaseResponse

from portal.phone.login import LoginError, PhoneContext, StatusView
from portal.phone.phone_memory import MAX_QUERY, REDIRECT_COOKIE, RedirectMemory, decode_query, encode_query
from portal.web import services
from portal.web.client_address import canonical_address, client_address

__all__ = ["SESSION_COOKIE", "address_login", "forget", "keep_session", "memory", "own_login",
           "recalled_context", "remember", "remembered_online", "remembered_query"]

R = TypeVar("R", bound=BaseResponse)
SESSION_COOKIE = "cw_ses"
SESSION_COOKIE_TTL = 86400
"""A day: quotas are daily, and a stale cookie only ever names a login that is over."""


def memory() -> RedirectMemory:
    """The app's redirect memory (signed with the journey's key)."""
    return services().redirect_memory


def _observed() -> str:
    text = client_address()
    return canonical_address(text) or text


def address_login() -> tuple[str, str] | None:
    """(AC, user IP) of the portal login at the request's observed address, where that AC's
    client-address check makes the address the phone's own."""
    ip = _observed()
    if not ip:
        return None
    journey = services().journey
    ac = journey.ac_for_ip(ip)
    if not ac or not journey.checks_addresses(ac):
        return None
    return ac, ip


def own_login(token: str = "") -> tuple[str, str, StatusView] | None:
    """(AC, user IP, view) of the requester's online login: the one ``token`` (a status link's)
    names — LoginError when it is forged or expired — else the one of this browser's session
    cookie, else the one at its observed address where the AC checks addresses. None: offline
    or unknown."""
    journey = services().journey
    found: list[tuple[str, str, str]] = []
    if token:
        found.append(journey.open_session_token(token))
    else:
        with contextlib.suppress(LoginError):
            if cookie := request.cookies.get(SESSION_COOKIE, ""):
                found.append(journey.open_session_token(cookie))
        if (login := address_login()) is not None:
            found.append((*login, ""))
    for ac, ip, phone in found:
        view = journey.status(ac, ip, phone or None)
        if view.online:
            return ac, ip, view
    return None


def keep_session(response: R, token: str) -> R:
    """``response``, giving the browser that just logged in its session token (:func:`own_login`)."""
    if token:
        response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_COOKIE_TTL, path="/", httponly=True,
                            samesite="Lax", secure=request.is_secure)
    return response


def remembered_online() -> bool:
    """Whether the login of this requester's remembered redirect is online: all it learns."""
    ctx = recalled_context()
    return ctx is not None and services().journey.status(ctx.ac, ctx.user_ip).online


def remembered_query() -> str | None:
    """The query of the last AC redirect this requester brought, or None."""
    ip = _observed()
    if ip:
        query = memory().recall_address(ip)
        if query:
            return query
    return memory().recall_cookie(request.cookies.get(REDIRECT_COOKIE))


def recalled_context() -> PhoneContext | None:
    """The context of :func:`remembered_query` (parsed, not yet checked), or None."""
    query = remembered_query()
    if not query:
        return None
    try:
        return services().journey.context(decode_query(query))
    except LoginError:
        return None


def remember(response: BaseResponse, ctx: PhoneContext, mode: str, query: dict[str, list[str]]) -> None:
    """Keep the redirect that just passed the landing's checks: under the observed address in
    ``"address"`` mode (it was just checked to be ``ctx.user_ip``), else in a signed cookie."""
    text = encode_query(query)
    if len(text) > MAX_QUERY:        # keep what resolves to the same context
        text = encode_query({k: [v] for k, v in services().journey.redirect_query(ctx).items()})
    store = memory()
    if mode == "address":
        store.remember_address(_observed(), text)
        return
    response.set_cookie(REDIRECT_COOKIE, store.cookie_value(text), max_age=store.ttl, path="/",
                        httponly=True, samesite="Lax", secure=request.is_secure)


def forget(response: BaseResponse) -> None:
    """Drop a remembered redirect that no longer lands (AC gone, device changed…)."""
    ip = _observed()
    if ip:
        memory().forget_address(ip)
    if REDIRECT_COOKIE in request.cookies:
        response.delete_cookie(REDIRECT_COOKIE, path="/")
