"""Which phone a request WITHOUT the AC's redirect is about: OS probes, the RFC 8908 API, a bare
``/portal``, the status page opened without its token.

Two things can identify it, and each only where the portal can verify it:

* its login, found by the request's observed address — only for a login through an AC whose
  ``client_address_check`` is on (behind NAT the observed address is the NAT's: it would name
  whichever phone happens to hold that address on some AC, not the requester);
* the last AC redirect it brought (``portal.phone_memory``): by observed address under the same
  rule, else the signed cookie of the browser that brought it.
"""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response as BaseResponse

from portal.login import LoginError, PhoneContext
from portal.phone_memory import MAX_QUERY, REDIRECT_COOKIE, RedirectMemory, decode_query, encode_query
from portal.web import services
from portal.web.client_address import canonical_address, client_address

__all__ = ["address_login", "forget", "memory", "recalled_context", "remember", "remembered_query"]


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
