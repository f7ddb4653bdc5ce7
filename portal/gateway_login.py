"""The phone journey on gateways that are not carrier-Portal-protocol ACs (issue 17).

The journey itself (``portal.login``) does not change per gateway; it calls these few hooks:

* :func:`is_gateway_redirect` / :func:`gateway_context`: the landing's query is a gateway's
  redirect (openNDS: ``fas=…``) → the same :class:`PhoneContext` as for a carrier AC, with the
  gateway as the "AC" and the adapter's grant state (openNDS: ``hid``, gateway address) in
  ``ctx.gateway``, signed into the page with the rest;
* :func:`grants_by_redirect`: no AC-side login exchange for this AC — the code is verified,
  the plan checked and the real-name record and MAC binding written as usual, then
* :func:`handoff`: the success becomes a redirect of the phone's browser to the gateway's grant
  URL (``LoginSuccess.handoff``), carrying the plan's limits the gateway can enforce.

A level-1 openNDS redirect is the phone's claim (plain base64): the client IP and MAC it names
are recorded as claimed, and requests are checked with the browser binding cookie (the portal
sees the gateway's NAT address, not the phone's).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ac_adapters.errors import RedirectError
from ac_adapters.gateways import GatewayLimits, GatewayRedirect, GatewayRedirectError, adapter_for
from ac_adapters.gateways.opennds_l3 import authmon_entry, parse_encrypted
from portal.gateway_sessions import AuthmonQueue, GatewaySessions
from portal.login_types import LoginError, LoginSuccess, PhoneContext
from portal.state import keys

if TYPE_CHECKING:
    from portal.acs import AcRecord
    from portal.grants import Grant
    from portal.login import PhoneJourney
    from portal.login_context import PhoneContexts
    from portal.plans import Plan

__all__ = ["gateway_context", "grants_by_redirect", "handoff", "is_gateway_redirect", "logout_url",
           "plan_limits"]

log = logging.getLogger("citywifi.login.gateway")

# query parameter → gateway kind whose redirect carries it
_MARKERS = {"fas": "opennds"}
_STATUS_PATH = "/portal/status"
_WELCOME_PATH = "/portal/welcome"


def _first(query: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in query.items():
        if isinstance(value, (list, tuple)):
            value = value[0] if value else ""
        if isinstance(value, Sequence) and isinstance(value, str):
            out[str(name)] = value
    return out


def is_gateway_redirect(query: Any) -> bool:
    """True when the landing query is a non-Portal gateway's redirect (openNDS ``fas``)."""
    return isinstance(query, Mapping) and any(m in query for m in _MARKERS)


def gateway_context(journey: PhoneContexts, query: Mapping[str, Any]) -> PhoneContext:
    """A gateway redirect → the phone's context. The gateway must be registered under the name
    it gives itself (openNDS ``gatewayname``), with that kind, and enabled."""
    flat = _first(query)
    kind = next(k for m, k in _MARKERS.items() if m in flat)
    adapter = adapter_for(kind)
    assert adapter is not None
    try:
        level3 = kind == "opennds" and "iv" in flat
        parsed = _level3(journey, flat) if level3 else adapter.parse_redirect(flat)
    except RedirectError as exc:
        raise LoginError(getattr(exc, "code", "bad_redirect"), detail=str(exc)) from None
    record = journey._ac_by_name(parsed.gateway_name)
    if record is None or not record.enabled or record.kind != kind:
        raise LoginError("unknown_ac", detail=f"{kind} gateway {parsed.gateway_name!r} not registered "
                         "(or disabled, or registered with another kind)")
    venue = journey.venues.resolve(record.name, None, None)
    return PhoneContext(ac=record.name, user_ip=parsed.user_ip, mac=parsed.user_mac, venue=venue.id,
                        first_url=parsed.original_url,
                        vouched="vendor" if parsed.vouched else "",
                        gateway=json.dumps(dict(parsed.state), sort_keys=True))


def _level3(journey: PhoneContexts, flat: Mapping[str, str]) -> GatewayRedirect:
    """An encrypted openNDS redirect (``fas`` + ``iv``): the gateway name is inside, so each
    enabled openNDS gateway's faskey is tried (one AES decryption each) until one opens it to
    an item list naming that gateway."""
    for record in journey.acs.all():
        if record.kind == "opennds" and record.enabled and record.faskey:
            parsed = parse_encrypted(flat.get("fas", ""), flat.get("iv", ""), record.faskey)
            if parsed is not None and parsed.gateway_name == record.name:
                return parsed
    raise GatewayRedirectError("unknown_ac", "encrypted fas query opens with no registered gateway's "
                               "faskey (or names another gateway)")


def grants_by_redirect(record: AcRecord) -> bool:
    """No login exchange with this AC: the phone's browser carries the grant (:func:`handoff`)."""
    adapter = adapter_for(record.kind)
    return adapter is not None and adapter.grant_mode == "redirect"


def plan_limits(journey: PhoneJourney, phone: str, plan: Plan, grant: Grant) -> GatewayLimits:
    """What this session may use, in the gateway's terms: the grant's time and rates, and the
    data left today / in total (plans count both directions together; a gateway with separate
    quotas gets the whole remainder in each, so it may let through up to twice that)."""
    usage = journey.usage.get(phone, journey.clock())
    left = [limit - used for limit, used in ((plan.daily_volume, usage.daily_volume),
                                             (plan.total_volume, usage.total_volume)) if limit is not None]
    kbytes = max(0, min(left)) // 1024 if left else None
    return GatewayLimits(session_seconds=grant.session_timeout, up_kbps=grant.up_kbps,
                         down_kbps=grant.down_kbps, up_kbytes=kbytes, down_kbytes=kbytes)


def _remember(journey: PhoneJourney, ctx: PhoneContext, success: LoginSuccess, plan: Plan,
              state: Mapping[str, str], limits: GatewayLimits) -> None:
    """Before the phone goes to the gateway: whose client ``hid`` is (its session events name
    only that, ``portal.gateway_sessions``), and the gateway's address on the portal login (the
    status page's logout sends the phone to the gateway's deny URL)."""
    if state.get("hid"):
        GatewaySessions(journey.redis, clock=journey.clock).remember_grant(
            ctx.ac, state["hid"], phone=success.phone, plan=plan.name, mac=ctx.mac, ip=ctx.user_ip,
            venue=ctx.venue, ssid=ctx.ssid, session_seconds=limits.session_seconds or 0)
    if state.get("gatewayaddress"):
        journey.redis.hset(keys.portal_login(ctx.ac, ctx.user_ip), "gw",
                           json.dumps({k: v for k, v in state.items() if k != "hid"}, sort_keys=True))


def logout_url(journey: PhoneJourney, record: AcRecord, user_ip: str) -> str | None:
    """Where the phone's browser ends its session on a redirect-grant gateway (openNDS: its
    deny URL), from the gateway address kept at the grant; None when there is none."""
    adapter = adapter_for(record.kind)
    make = getattr(adapter, "logout_url", None)
    raw = journey.redis.hget(keys.portal_login(record.name, user_ip), "gw")
    if make is None or raw is None:
        return None
    try:
        url = make(json.loads(raw))
    except (ValueError, TypeError, RedirectError):
        return None
    return str(url) if url else None


def handoff(journey: PhoneJourney, ctx: PhoneContext, record: AcRecord, plan: Plan, grant: Grant,
            success: LoginSuccess) -> LoginSuccess:
    """For a redirect-grant gateway: the success whose ``redirect_url`` is the gateway's grant
    URL (``handoff`` set); after the gateway lets the phone in, it sends it on to our success
    page (which forwards to the venue's post-login page), else our status page."""
    adapter = adapter_for(record.kind)
    if adapter is None or adapter.grant_mode != "redirect":
        return success
    landing = success.redirect_url
    if journey.web.public_url:
        # Back to our page first: the success page (status link, then the venue's post-login
        # page) or, with no post-login page, the status page itself. A phone sent straight to
        # the venue's page would never get its status link (portal/web/gateway_welcome.py).
        path = _WELCOME_PATH if landing else _STATUS_PATH
        landing = (journey.web.public_url.rstrip("/") + path + "?"
                   + urlencode({"s": success.session_token}))
    landing = landing or ctx.first_url or "/"
    try:
        state = json.loads(ctx.gateway or "{}")
        limits = plan_limits(journey, success.phone, plan, grant)
        if state.get("level") == "3":
            # Level 3: the gateway's authmon fetches the grant (with the limits, in minutes)
            # within its poll interval; the phone sees the usual success page meanwhile.
            entry = authmon_entry(state["hid"], record.faskey, limits)
            _remember(journey, ctx, success, plan, state, limits)
            AuthmonQueue(journey.redis).push(record.name, entry.split(" ", 1)[0], entry)
            log.info("openNDS level-3 grant for %s on %s queued for authmon", ctx.user_ip, ctx.ac)
            return success
        url = adapter.grant_url(state, record.faskey, limits, landing)
    except (ValueError, TypeError, KeyError) as exc:
        raise LoginError("bad_link", detail=f"gateway grant for {ctx.ac}: {exc}") from None
    _remember(journey, ctx, success, plan, state, limits)
    log.info("%s grant for %s on %s: the phone is sent to the gateway", record.kind, ctx.user_ip, ctx.ac)
    return dataclasses.replace(success, redirect_url=url, handoff=True)
