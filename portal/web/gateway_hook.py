"""Gateway-facing endpoints: what gateways (not phones, not operators) call (issue 17).

``POST /api/gateway/opennds/events``: our BinAuth hook on an openNDS gateway posts each client
event here (``deploy/opennds/binauth.sh``; body and signature in
``ac_adapters/gateways/opennds_events.py``); ``portal.gateway_sessions`` turns it into session
start/stop, bytes, seconds and the real-name logout record.

Checks, cheapest first, each with its own 4xx so a gateway operator can tell them apart (the
hook logs our answer): size (413), form (400), gateway registered as openNDS and enabled (404),
the request comes from one of the gateway's registered addresses (403), the signature with the
gateway's hook secret (401), the gateway's clock within the replay window of ours (401), a body
not seen before (409). A client no grant of ours backs answers 404; Redis down answers 503.
Nothing a caller sends produces a 500. The answers are JSON for machines (no zh/en pages).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import redis as redis_lib
from flask import Blueprint, Response, jsonify, request

from ac_adapters.gateways.opennds_events import (
    MAX_BODY,
    REPLAY_WINDOW,
    SIGNATURE_HEADER,
    EventError,
    parse_event,
    verify_signature,
)
from portal.acs import AcRecord
from portal.gateway_sessions import GatewaySessions
from portal.web import services
from portal.web.client_address import canonical_address, client_address

__all__ = ["bp", "gateway_source_ok"]

log = logging.getLogger("citywifi.gateway.hook")
bp = Blueprint("gateway", __name__, url_prefix="/api/gateway")

_STATUS = {"too_large": 413, "bad_event": 400, "unknown_gateway": 404, "wrong_source": 403,
           "bad_signature": 401, "stale": 401, "replay": 409, "unknown_client": 404}


def _answer(code: str, detail: str, status: int | None = None) -> tuple[Response, int]:
    return jsonify({"ok": False, "error": code, "detail": detail[:300]}), status or _STATUS[code]


def gateway_source_ok(record: AcRecord) -> bool:
    """The request comes from one of the gateway's registered addresses (after the trusted
    proxies: the gateway's own address, not a forwarding header it could write)."""
    seen = canonical_address(client_address())
    return seen is not None and seen in {canonical_address(a) for a in record.addresses}


def _sessions() -> GatewaySessions:
    from flask import current_app

    found = current_app.extensions.get("citywifi_gateway_sessions")
    if found is None:
        svc = services()
        found = GatewaySessions(svc.redis, grace=svc.settings.radius.reaper_grace,
                                timezone=svc.settings.quota.timezone,
                                tombstone_ttl=svc.settings.quota.tombstone_ttl)
        current_app.extensions["citywifi_gateway_sessions"] = found
    assert isinstance(found, GatewaySessions)
    return found


@bp.post("/opennds/events")
def opennds_event() -> Any:
    if (request.content_length or 0) > MAX_BODY:
        return _answer("too_large", f"at most {MAX_BODY} bytes")
    body = request.get_data(cache=False)[:MAX_BODY + 1]
    try:
        event = parse_event(body)
    except EventError as exc:
        return _answer(exc.code, exc.detail)
    journey = services().journey
    try:
        record = journey.acs.get_or_none(event.gateway)
        if record is None or not record.enabled or record.kind != "opennds":
            return _answer("unknown_gateway", f"no enabled openNDS gateway named {event.gateway!r}")
        if not gateway_source_ok(record):
            log.warning("openNDS event for %s from %s, not one of its addresses", record.name,
                        client_address())
            return _answer("wrong_source", f"{client_address()} is not an address of {record.name}")
        if not verify_signature(record.secret, body, request.headers.get(SIGNATURE_HEADER, "")):
            log.warning("openNDS event for %s with a bad signature from %s", record.name,
                        client_address())
            return _answer("bad_signature", f"{SIGNATURE_HEADER} does not verify with the "
                           "gateway's hook secret")
        skew = event.ts - journey.clock()
        if abs(skew) > REPLAY_WINDOW:
            return _answer("stale", f"gateway clock {skew:+.0f} s from ours (window ±{REPLAY_WINDOW} s)")
        sessions = _sessions()
        if not sessions.first_sight(record.name, hashlib.sha256(body).hexdigest()):
            return _answer("replay", "this event was already applied")
        result = sessions.apply(record.name, event)
    except EventError as exc:
        log.info("openNDS event %s for %s: %s", event.event, event.gateway, exc.detail)
        return _answer(exc.code, exc.detail)
    except (redis_lib.RedisError, ConnectionError, TimeoutError) as exc:
        log.error("openNDS event for %s not applied, Redis unavailable: %s", event.gateway, exc)
        return _answer("state_unavailable", "try again", 503)
    return jsonify({"ok": True, **result})
