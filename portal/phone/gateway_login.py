"""The phone journey on gateways that are not carrier-Portal-protocol ACs.

The journey itself (``portal.phone.login``) does not change per gateway; it calls these few hooks:

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

A gateway that signs its redirect (CoovaChilli ``md``, ``SignedRedirects``) is verified with the
registry's secret over the URL it addressed the phone to (``web.public_url`` + ``/portal`` or
``/``, either scheme); one that does not verify is refused. Its challenge is spent once
(:func:`claim_redirect`), so a replayed redirect cannot carry a second grant. Gateways that ask
our RADIUS (``radius_login``) get a fresh single-use login token in the grant URL; their
``res=…`` landings (how a logon ended) are read by :func:`gateway_result`. A landing nothing
signs (MikroTik) must come from the gateway or the client it names (:func:`check_source`).
Controller kinds (UniFi, Omada: ``grant_mode = "exchange"``) are authorised over the
controller's API instead of a browser redirect, and their sessions recorded here
(:func:`_exchange`), since no accounting comes back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ac_adapters.errors import RedirectError
from ac_adapters.gateways import (
    GatewayLimits,
    GatewayRedirect,
    GatewayRedirectError,
    SignedRedirects,
    adapter_for,
)
from ac_adapters.gateways.chilli import parse_result
from ac_adapters.gateways.controller import ControllerError
from ac_adapters.gateways.mikrotik import parse_login_form
from ac_adapters.gateways.omada import auth_payload
from ac_adapters.gateways.omada_api import omada_for
from ac_adapters.gateways.opennds_l3 import authmon_entry, parse_encrypted
from ac_adapters.gateways.unifi import authorize_payload
from ac_adapters.gateways.unifi_api import controller_for
from portal.aaa.controller_usage import close_unauthorised
from portal.aaa.gateway_sessions import AuthmonQueue, GatewaySessions
from portal.aaa.sessions import OnlineSession
from portal.phone.login_types import LoginError, LoginSuccess, PhoneContext
from portal.state import keys
from portal.state.keys_gateway import gateway_nonce
from portal.venues.venue_store import allowed_redirect

if TYPE_CHECKING:
    from portal.aaa.acs import AcRecord
    from portal.aaa.grants import Grant
    from portal.aaa.plans import Plan
    from portal.phone.login import PhoneJourney
    from portal.phone.login_context import PhoneContexts

__all__ = ["GatewayResult", "check_source", "claim_redirect", "gateway_context", "gateway_logout",
           "gateway_result", "grants_by_redirect", "handoff", "is_gateway_redirect", "logout_url",
           "no_portal_login", "plan_limits", "portal_urls"]

log = logging.getLogger("citywifi.login.gateway")

# query parameter → gateway kind whose redirect carries it
_MARKERS = {"fas": "opennds", "uamip": "chilli", "link-login-only": "mikrotik", "unifi_site": "unifi",
            "clientMac": "omada"}
_STATUS_PATH = "/portal/status"
_WELCOME_PATH = "/portal/welcome"
_NONCE_TTL = 86400            # a spent gateway challenge is remembered this long


def _first(query: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in query.items():
        if isinstance(value, (list, tuple)):
            value = value[0] if value else ""
        if isinstance(value, Sequence) and isinstance(value, str):
            out[str(name)] = value
    return out


def is_gateway_redirect(query: Any) -> bool:
    """True when the landing query is a non-Portal gateway's redirect (``_MARKERS``: openNDS
    ``fas``, Chilli ``uamip``, MikroTik ``link-login-only``, UniFi ``unifi_site``, Omada
    ``clientMac``)."""
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
    record = _registered(journey, kind, parsed.gateway_name)
    vouched = parsed.vouched or _verified(journey, adapter, record, flat)
    venue = journey.venues.resolve(record.name, None, None)
    return PhoneContext(ac=record.name, user_ip=parsed.user_ip, mac=parsed.user_mac, venue=venue.id,
                        first_url=parsed.original_url,
                        vouched="vendor" if vouched else "",
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


def _registered(journey: PhoneContexts, kind: str, name: str) -> AcRecord:
    record = journey._ac_by_name(name)
    if record is None or not record.enabled or record.kind != kind:
        raise LoginError("unknown_ac", detail=f"{kind} gateway {name!r} not registered "
                         "(or disabled, or registered with another kind)")
    return record


def portal_urls(public_url: str) -> list[str]:
    """The URLs a gateway may send phones to (its configured portal URL): ``/portal`` and
    ``/`` under ``web.public_url``, in either scheme (walled-garden http or TLS)."""
    if "://" not in public_url:
        return []
    scheme, _, rest = public_url.rstrip("/").partition("://")
    other = "http" if scheme == "https" else "https"
    return [f"{s}://{rest}{path}" for s in (scheme, other) for path in ("/portal", "/")]


def _verified(journey: PhoneContexts, adapter: Any, record: AcRecord, flat: dict[str, str]) -> bool:
    """A signing gateway's redirect must verify with the registry's secret (never trusted
    otherwise); False for gateways that do not sign."""
    if not isinstance(adapter, SignedRedirects):
        return False
    if not adapter.verify_redirect(flat.items(), record.secret, portal_urls(journey.web.public_url)):
        log.warning("%s redirect naming %s: signature does not verify (secret, or the gateway's "
                    "portal URL is not web.public_url/portal)", record.kind, record.name)
        raise LoginError("bad_redirect", detail=f"{record.kind} redirect signature (md) does not verify")
    return True


@dataclasses.dataclass(frozen=True, slots=True)
class GatewayResult:
    """A gateway's ``res=`` landing, signature verified: ``res`` success | already | failed |
    logoff; ``next_url`` an allow-listed place to continue to ("" = none); ``session_token``
    of the portal login at that address ("" = none known)."""

    res: str
    ac: str
    user_ip: str
    mac: str
    reply: str = ""
    next_url: str = ""
    session_token: str = ""
    retry_url: str = ""      # failed: the gateway's /prelogin (a fresh challenge and login)


def check_source(journey: PhoneContexts, query: Mapping[str, Any], observed: str) -> None:
    """For a gateway whose landing nothing signs (MikroTik, ``source_checked``): it must come
    from the gateway's own addresses (the router NATs its clients) or from the client IP it
    names (no NAT), so a landing forged elsewhere on the Internet is refused."""
    flat = _first(query)
    kind = next((k for m, k in _MARKERS.items() if m in flat), "")
    adapter = adapter_for(kind)
    if adapter is None or not getattr(adapter, "source_checked", False):
        return
    try:
        parsed = adapter.parse_redirect(flat)
    except RedirectError as exc:
        raise LoginError(getattr(exc, "code", "bad_redirect"), detail=str(exc)) from None
    record = _registered(journey, kind, parsed.gateway_name)
    if observed not in (*record.addresses, *record.portal_sources, parsed.user_ip):
        raise LoginError("unknown_ac", detail=f"{kind} landing naming {record.name} came from {observed}, "
                         "neither the gateway's addresses nor the client it names")


def gateway_result(journey: PhoneJourney, query: Mapping[str, Any]) -> GatewayResult | None:
    """A CoovaChilli ``res=success|already|failed|logoff`` landing, or a MikroTik login page
    that reports an ``error``, → what to show; None for any other landing (a login redirect:
    :func:`gateway_context`)."""
    flat = _first(query)
    if "link-login-only" in flat and flat.get("error", "").strip():
        return _mikrotik_failed(journey, flat)
    if "uamip" not in flat or flat.get("res", "notyet") == "notyet":
        return None
    try:
        parsed = parse_result(flat)
    except RedirectError as exc:
        raise LoginError(getattr(exc, "code", "bad_redirect"), detail=str(exc)) from None
    if parsed is None:
        return None
    record = _registered(journey, "chilli", parsed.gateway_name)
    _verified(journey, adapter_for("chilli"), record, flat)
    rec = journey.redis.hgetall(keys.portal_login(record.name, parsed.user_ip))
    phone = (rec.get(b"phone") or b"").decode()
    token = journey.session_token(record.name, parsed.user_ip, phone) if phone else ""
    return GatewayResult(parsed.res, record.name, parsed.user_ip, parsed.user_mac, parsed.reply,
                         _safe_next(journey, record.name, parsed.userurl), token,
                         f"http://{parsed.uamip}:{parsed.uamport}/prelogin")


def _mikrotik_failed(journey: PhoneJourney, flat: dict[str, str]) -> GatewayResult:
    # RouterOS shows its login page again with $(error) (and a fresh challenge) when RADIUS
    # refused: the reason, and the router's login page as the way to a fresh attempt.
    try:
        parsed = parse_login_form(flat)
    except RedirectError as exc:
        raise LoginError(getattr(exc, "code", "bad_redirect"), detail=str(exc)) from None
    record = _registered(journey, "mikrotik", parsed.gateway_name)
    return GatewayResult("failed", record.name, parsed.user_ip, parsed.user_mac,
                         flat.get("error", "")[:200], retry_url=parsed.state["login"])


def _safe_next(journey: PhoneJourney, ac: str, url: str) -> str:
    # userurl passed through the phone's browser (the logon URL): only our own pages or an
    # allow-listed host, never an open redirect.
    public = journey.web.public_url.rstrip("/")
    if not url or (public and url.startswith(public + "/")):
        return url
    venue = journey.venues.resolve(ac, None, None)
    return url if allowed_redirect(url, (*venue.redirect_hosts, *journey.web.redirect_hosts)) else ""


def claim_redirect(journey: PhoneJourney, ctx: PhoneContext) -> None:
    """Spend the redirect's challenge (CoovaChilli) before a grant: a replayed redirect, whose
    challenge already carried one grant, is refused."""
    state = json.loads(ctx.gateway or "{}")
    challenge = state.get("challenge", "") if isinstance(state, dict) else ""
    if challenge and not journey.redis.set(gateway_nonce(ctx.ac, challenge), "1", nx=True,
                                           ex=_NONCE_TTL):
        raise LoginError("bad_link", detail=f"gateway challenge on {ctx.ac} already used (replayed redirect)")


def grants_by_redirect(record: AcRecord) -> bool:
    """The phone's own browser carries the grant to this AC (:func:`handoff`; openNDS, Chilli,
    MikroTik): after a form post it is sent to the gateway."""
    adapter = adapter_for(record.kind)
    return adapter is not None and adapter.grant_mode == "redirect"


def no_portal_login(record: AcRecord) -> bool:
    """No Portal-protocol login with this AC: a gateway kind, whose grant :func:`handoff` makes
    (the phone's browser carries it, or the controller is asked)."""
    return adapter_for(record.kind) is not None


def gateway_logout(journey: PhoneJourney, record: AcRecord, user_ip: str) -> bool:
    """The portal's logout on a gateway: a controller kind (UniFi) unauthorises the guest and
    the session ends here too; the others cannot be reached from here (False)."""
    adapter = adapter_for(record.kind)
    if adapter is None or adapter.grant_mode != "exchange" or not adapter.can_logout:
        log.warning("logout of %s on %s: the gateway has no remote logout", user_ip, record.name)
        return False
    rec = journey.redis.hgetall(keys.portal_login(record.name, user_ip))
    mac, phone = (rec.get(b"mac") or b"").decode(), (rec.get(b"phone") or b"").decode()
    client = controller_for(record.controller_url, record.secret)
    try:
        client.unauthorize(record.name, mac)
    except ControllerError as exc:
        log.warning("unauthorize-guest %s on %s: %s", mac, record.name, exc)
        return False
    mine = [s for s in (journey.sessions.by_phone(phone) if phone else [])
            if s.ac == record.name and s.mac == mac]
    # Booked to the phone's day with the ended authorisation's counters (controller_usage).
    close_unauthorised(GatewaySessions(journey.redis, grace=journey.sessions.grace,
                                       timezone=str(journey.usage.tz), clock=journey.clock),
                       client, record.name, mine, "logout")
    journey.close(record.name, user_ip, mac or None, "logout")
    return True


def _exchange(journey: PhoneJourney, ctx: PhoneContext, record: AcRecord, plan: Plan, grant: Grant,
              success: LoginSuccess) -> LoginSuccess:
    """A controller kind (UniFi, Omada): authorise the client with the plan's limits, and record
    the session (no accounting comes from the controller) so the NOC lists (and kicks) it."""
    state = json.loads(ctx.gateway or "{}")
    limits = plan_limits(journey, success.phone, plan, grant)
    try:
        if record.kind == "omada":
            body = auth_payload(state, limits)
            omada_for(record.controller_url, record.secret).authorize(body)
            seconds = int(body["time"]) // 1_000_000
        else:
            payload = authorize_payload(state, limits)
            controller_for(record.controller_url, record.secret).authorize(state.get("site", ""), payload)
            seconds = int(payload["minutes"]) * 60
    except ControllerError as exc:
        log.warning("authorising %s on %s: %s", ctx.mac, record.name, exc)
        raise LoginError("ac_timeout" if exc.timed_out else "ac_rejected", reply_message="",
                         detail=f"{record.kind} controller of {record.name}: {exc}") from None
    except ValueError as exc:
        raise LoginError("bad_link", detail=f"{record.kind} grant for {ctx.ac}: {exc}") from None
    now = int(journey.clock())
    journey.sessions.open(OnlineSession(
        ac=record.name, session_id=f"{record.kind}-{ctx.mac.replace(':', '')}-{now}", phone=success.phone,
        mac=ctx.mac, ip=ctx.user_ip, started=now, updated=now, interim=seconds // 2 + 1, plan=plan.name,
        ssid=ctx.ssid, venue=ctx.venue))
    log.info("%s client %s authorised on %s for %d s", record.kind, ctx.mac, record.name, seconds)
    return success


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
              state: Mapping[str, str], limits: GatewayLimits, adapter: Any) -> None:
    """Before the phone goes to the gateway: whose client ``hid`` is (its session events name
    only that, ``portal.aaa.gateway_sessions``), and the gateway's address on the portal login (the
    status page's logout sends the phone to the gateway's deny URL)."""
    if state.get("hid"):
        GatewaySessions(journey.redis, clock=journey.clock).remember_grant(
            ctx.ac, state["hid"], phone=success.phone, plan=plan.name, mac=ctx.mac, ip=ctx.user_ip,
            venue=ctx.venue, ssid=ctx.ssid, session_seconds=limits.session_seconds or 0)
    if hasattr(adapter, "logout_url"):       # openNDS deny URL, Chilli /logoff, RouterOS /logout
        journey.redis.hset(keys.portal_login(ctx.ac, ctx.user_ip), "gw",
                           json.dumps({k: v for k, v in state.items() if k != "hid"}, sort_keys=True))


def logout_url(journey: PhoneJourney, record: AcRecord, user_ip: str) -> str | None:
    """Where the phone's browser ends its session on a redirect-grant gateway (openNDS: its
    deny URL, Chilli's /logoff, RouterOS's /logout), from the state kept at the grant; None when
    there is none."""
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
    page (which forwards to the venue's post-login page), else our status page. A controller
    kind is authorised over its API."""
    adapter = adapter_for(record.kind)
    if adapter is not None and adapter.grant_mode == "exchange":
        return _exchange(journey, ctx, record, plan, grant, success)
    if adapter is None:
        return success
    landing = success.redirect_url
    if journey.web.public_url:
        # Back to our page first: the success page (status link, then the venue's post-login
        # page) or, with no post-login page, the status page itself. A phone sent straight to
        # the venue's page would never get its status link (portal/web/phone/gateway_welcome.py).
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
            _remember(journey, ctx, success, plan, state, limits, adapter)
            AuthmonQueue(journey.redis).push(record.name, entry.split(" ", 1)[0], entry)
            log.info("openNDS level-3 grant for %s on %s queued for authmon", ctx.user_ip, ctx.ac)
            return success
        grant_state, secret = state, record.faskey
        if getattr(adapter, "radius_login", False):
            # The gateway asks our RADIUS with this token (User-Name = phone), as a carrier AC would.
            token = journey.credentials.mint_login_token(success.phone, ctx.mac or None,
                                                         ttl=journey.web.login_token_ttl)
            grant_state = {**state, "username": token.username, "password": token.password}
            secret = record.secret
        url = adapter.grant_url(grant_state, secret, limits, landing)
        json_url = _json_logon(journey, record, adapter, grant_state, secret, landing)
    except (ValueError, TypeError, KeyError) as exc:
        raise LoginError("bad_link", detail=f"gateway grant for {ctx.ac}: {exc}") from None
    _remember(journey, ctx, success, plan, state, limits, adapter)
    log.info("%s grant for %s on %s: the phone is sent to the gateway%s", record.kind, ctx.user_ip, ctx.ac,
             " (JSON interface)" if json_url else "")
    return dataclasses.replace(success, redirect_url=url, handoff=True, gateway_json=json_url)


def _json_logon(journey: PhoneJourney, record: AcRecord, adapter: Any, state: Mapping[str, str],
                secret: str, landing: str) -> str:
    """The CoovaChilli JSON logon the page calls, when the entry asks for it (``json_login``) or
    the redirect named Chilli's HTTPS listener (``ssl=``); "" otherwise, and when an https page
    could not load it (an ``http://`` script is blocked as mixed content: the plain redirect
    works there)."""
    make = getattr(adapter, "json_logon_url", None)
    if make is None or not (record.json_login or state.get("ssl")):
        return ""
    url = str(make(state, secret, landing))
    if url.startswith("http://") and journey.web.public_url.startswith("https://"):
        log.warning("%s: JSON login needs Chilli's HTTPS listener (uamuissl) under an https portal; "
                    "using the /logon redirect", record.name)
        return ""
    return url
