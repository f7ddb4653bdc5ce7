"""Gateway-facing endpoints: what gateways (not phones, not operators) call.

``POST /portal`` (the FAS URL, ``faspath /portal``): an openNDS level-3 gateway's authmon polls
for the grants queued for it (``ac_adapters/gateways/opennds_l3.py``: clear, view, ack). authmon
signs nothing, so the gateway is known by the request's source address (its registered
addresses; anything else is answered 403) and must name itself with its ``gatewayhash``.

``POST /api/gateway/opennds/events``: our BinAuth hook on an openNDS gateway posts each client
event here (``deploy/opennds/binauth.sh``; body and signature in
``ac_adapters/gateways/opennds_events.py``); ``portal.aaa.gateway_sessions`` turns it into session
start/stop, bytes, seconds and the real-name logout record.

Checks, cheapest first, each with its own 4xx so a gateway operator can tell them apart (the
hook logs our answer): size (413), form (400), gateway registered as openNDS and enabled (404),
the request comes from one of the gateway's registered addresses (403), the signature with the
gateway's hook secret (401), the gateway's clock within the replay window of ours (401), an event
(nonce) not applied before (409). A client no grant of ours backs answers 404; Redis down answers 503.
Nothing a caller sends produces a 500. The answers are JSON for machines (no zh/en pages).
"""

from __future__ import annotations

import base64
import binascii
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
from ac_adapters.gateways.opennds_l3 import AUTHMON_ACTIONS, authmon_answer, gateway_hash, parse_ack
from portal.aaa.acs import AcRecord
from portal.aaa.gateway_sessions import AuthmonQueue, GatewaySessions
from portal.aaa.session_close import CloseInProgress
from portal.web import services
from portal.web.client_address import canonical_address, client_address

__all__ = ["authmon_bp", "bp", "gateway_source_ok"]

log = logging.getLogger("citywifi.gateway.hook")
bp = Blueprint("gateway", __name__, url_prefix="/api/gateway")
authmon_bp = Blueprint("gateway_authmon", __name__)
MAX_AUTHMON_BODY = 4096

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
    return services().gateway_sessions


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
        # By the event's nonce, not the body: a resend from the hook's spool has a fresh ts.
        # Recorded as applied only after the apply succeeded: a failure part way leaves it to the
        # hook's resend (GatewaySessions.claim).
        claim = sessions.claim(record.name, event.nonce)
        if claim == "applied":
            return _answer("replay", "this event was already applied")
        if claim == "busy":
            return _answer("state_unavailable", "another copy of this event is being applied; try again", 503)
        try:
            result = sessions.apply(record.name, event)
        except BaseException:
            sessions.release(record.name, event.nonce)
            raise
        sessions.mark_applied(record.name, event.nonce)
    except EventError as exc:
        log.info("openNDS event %s for %s: %s", event.event, event.gateway, exc.detail)
        return _answer(exc.code, exc.detail)
    except CloseInProgress:
        return _answer("state_unavailable", "this session's close is being recorded; try again", 503)
    except (redis_lib.RedisError, ConnectionError, TimeoutError) as exc:
        log.error("openNDS event for %s not applied, Redis unavailable: %s", event.gateway, exc)
        return _answer("state_unavailable", "try again", 503)
    return jsonify({"ok": True, **result})


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


@authmon_bp.post("/portal")
def opennds_authmon() -> Response:
    """authmon's poll. Its ``ERROR:`` answers are what authmon writes to the gateway's syslog."""
    if (request.content_length or 0) > MAX_AUTHMON_BODY:
        return _text("ERROR: request too large", 413)
    form = request.form
    action, hashed = form.get("auth_get", ""), form.get("gatewayhash", "")
    if action not in AUTHMON_ACTIONS:
        return _text("ERROR: not an authmon request", 400)
    seen = client_address()
    try:
        record = services().journey.acs.by_address(canonical_address(seen) or seen)
        if record is None or record.kind != "opennds" or not record.enabled or not gateway_source_ok(record):
            log.warning("authmon poll from %s: not an enabled openNDS gateway's address", seen)
            return _text("ERROR: not a registered openNDS gateway address", 403)
        if hashed != gateway_hash(record.name):
            log.warning("authmon poll from %s (%s): gatewayhash names another gateway", seen, record.name)
            return _text(f"ERROR: gatewayhash is not that of {record.name}", 403)
        try:
            payload = base64.b64decode(form.get("payload", ""), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return _text("ERROR: payload is not base64 text", 400)
        queue = AuthmonQueue(services().redis)
        if action == "clear":
            queue.clear(record.name)
            return _text("ack")
        if action in ("deauthed", "custom"):
            return _text("ack")
        acked = parse_ack(payload)
        if acked is not None:
            queue.ack(record.name, acked)
            return _text("ack")
        answer = authmon_answer(queue.pending(record.name))
        if action == "list":
            queue.clear(record.name)
        return _text(answer)
    except (redis_lib.RedisError, ConnectionError, TimeoutError) as exc:
        log.error("authmon poll from %s not answered, Redis unavailable: %s", seen, exc)
        return _text("ERROR: portal state unavailable", 503)
