"""Every dropped packet counted by reason and AC, and told to the operator without DEBUG.

A RADIUS server answers nothing to a packet it drops (RFC 2865 §3: silently discard), so the
AC only sees silence and retries; the integrator must learn why from us. :class:`DropReporter`
is called once per drop from the serving loop (a few dict updates, no I/O) and:

* counts ``drop.<reason>`` (all drops, ``citywifi_radius_dropped_total{reason}``) and
  ``ac_drop.<reason>.<ac>`` (``citywifi_radius_ac_dropped_total{reason,ac}``; ``-`` when the
  source is no registered AC);
* logs the first drop of each (AC or source, packet kind, reason) at once, then at most one
  summary per ``interval`` — ``AC foo: 120 Access-Requests dropped (no Message-Authenticator)
  in the last 60 s; …hint`` — at WARNING for drops an operator must act on (wrong secret,
  missing Message-Authenticator, unknown source …) and INFO for the harmless ones
  (retransmissions of a request still being processed).

Unknown sources are keyed by address; their number is capped (spoofed floods), the rest share
one key. The same reporter counts unknown attributes (never a drop by default) per AC and
attribute, logging each pair once at INFO.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["REASONS", "DropReporter"]

log = logging.getLogger("radius.drops")

# reason → (what it means, what to do, log level)
REASONS: dict[str, tuple[str, str, int]] = {
    "missing_message_authenticator": (
        "no Message-Authenticator",
        "the AC must sign Access-Requests (require_message_authenticator resolved to yes, or "
        "auto after it once sent one); enable Message-Authenticator on the AC, or set the AC's "
        "require_message_authenticator to \"no\" if its firmware cannot",
        logging.WARNING),
    "proxy_state_without_ma": (
        "Proxy-State without Message-Authenticator",
        "the BlastRADIUS pattern (CVE-2024-3596); a NAS never sends Proxy-State: check for a "
        "proxy in the path, or set limit_proxy_state for this AC",
        logging.WARNING),
    "bad_message_authenticator": (
        "wrong Message-Authenticator", "the RADIUS shared secret differs between AC and server",
        logging.WARNING),
    "bad_authenticator": (
        "wrong Request Authenticator", "the RADIUS shared secret differs between AC and server",
        logging.WARNING),
    "unknown_client": (
        "source address is not a registered AC",
        "add the address to the AC's addresses (NOC console) or check NAT between AC and server",
        logging.WARNING),
    "unknown_nas_behind_proxy": (
        "a RADIUS proxy named an AC that is not registered behind it",
        "register the AC with its NAS-IP-Address (or name = NAS-Identifier) and radius_via = the "
        "proxy's record name",
        logging.WARNING),
    "ac_disabled": ("the AC is disabled", "enable it in the NOC console", logging.WARNING),
    "malformed": ("malformed packet", "attribute lengths do not add up (RFC 2865 §3)", logging.WARNING),
    "oversized": ("packet longer than 4096 octets", "RFC 2865 §3 limit", logging.WARNING),
    "unexpected_code": ("packet code not served on this port", "check the AC's port settings",
                        logging.WARNING),
    "unknown_attribute": (
        "attribute not in the RADIUS dictionary",
        "radius.drop_unknown_attributes = true drops these; false (the default) accepts them",
        logging.WARNING),
    "duplicate_in_progress": (
        "retransmission while the original is still being processed",
        "normal under load; the original gets the answer", logging.INFO),
    "state_unavailable": ("Redis unavailable", "see the STATE UNAVAILABLE errors", logging.INFO),
    "handler_error": ("internal error", "see the traceback logged with it", logging.INFO),
    "dm_reply_malformed": ("malformed Disconnect/CoA reply", "the AC's RFC 5176 answer is broken",
                           logging.WARNING),
    "dm_reply_bad_authenticator": (
        "Disconnect/CoA reply with a wrong authenticator",
        "the RADIUS shared secret differs between AC and server (or a forged reply)",
        logging.WARNING),
    "dm_reply_mismatch": (
        "Disconnect/CoA reply that answers another request",
        "a late reply to an earlier try, or a forged one", logging.INFO),
}
_DEFAULT = ("dropped", "", logging.WARNING)
_MAX_KEYS = 1024        # distinct (source, kind, reason) keys kept; then one shared key
_MAX_UNKNOWN = 4096     # distinct (AC, attribute) pairs named in metrics; then "other"


class _Window:
    __slots__ = ("count", "next_at")

    def __init__(self, next_at: float) -> None:
        self.count = 0
        self.next_at = next_at


class DropReporter:
    """Per-process drop counters and rate-limited drop logs (single-threaded use)."""

    def __init__(self, metrics: Any, *, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.interval = interval
        self.clock = clock
        self._windows: dict[tuple[str, str, str], _Window] = {}
        self._unknown: set[tuple[str, str]] = set()
        # The serving loop is one thread, but DM/CoA exchanges run in the enforcer's pool.
        self._lock = threading.Lock()

    def drop(self, reason: str, what: str, ac: str | None, source: str = "",
             detail: object = "") -> None:
        """One packet of kind ``what`` ("Access-Request", …) dropped for ``reason``, from AC
        ``ac`` (None: not a registered AC; ``source`` names the address then)."""
        with self._lock:
            self._drop(reason, what, ac, source, detail)

    def _drop(self, reason: str, what: str, ac: str | None, source: str, detail: object) -> None:
        inc = self.metrics.inc
        inc("drop." + reason)
        inc(f"ac_drop.{reason}.{ac or '-'}")
        who = f"AC {ac}" if ac else f"source {source or '?'}"
        key = (who, what, reason)
        window = self._windows.get(key)
        now = self.clock()
        if window is None:
            if len(self._windows) >= _MAX_KEYS:
                key = ("other sources", what, reason)
                window = self._windows.get(key)
            if window is None:
                self._windows[key] = _Window(now + self.interval)
                self._log(key, 1, first=True, detail=detail)
                return
        window.count += 1
        if now >= window.next_at:
            self._flush(key, window, now)

    def tick(self) -> None:
        """Log the summaries whose window has passed (the serving loop calls this each second)."""
        now = self.clock()
        with self._lock:
            for key, window in list(self._windows.items()):
                if now >= window.next_at:
                    if window.count:
                        self._flush(key, window, now)
                    else:   # quiet for a whole window: the next drop is "first" again
                        del self._windows[key]

    def unknown_attributes(self, ac: str, what: str, labels: list[str]) -> None:
        """Attributes the dictionary lacks in an accepted packet: counted per AC and attribute
        (``unknown_attr.<attribute>.<ac>``), each pair logged once at INFO."""
        with self._lock:
            self._unknown_attributes(ac, what, labels)

    def _unknown_attributes(self, ac: str, what: str, labels: list[str]) -> None:
        inc = self.metrics.inc
        for label in labels:
            pair = (ac, label)
            if pair not in self._unknown:
                if len(self._unknown) >= _MAX_UNKNOWN:
                    inc(f"unknown_attr.other.{ac}")
                    continue
                self._unknown.add(pair)
                log.info("AC %s: %s carries attribute %s, which the RADIUS dictionary does not "
                         "define; accepted and ignored (counted in "
                         "citywifi_radius_unknown_attributes_total, logged once)", ac, what, label)
            inc(f"unknown_attr.{label}.{ac}")

    def _flush(self, key: tuple[str, str, str], window: _Window, now: float) -> None:
        self._log(key, window.count)
        window.count = 0
        window.next_at = now + self.interval

    def _log(self, key: tuple[str, str, str], count: int, *, first: bool = False,
             detail: object = "") -> None:
        who, what, reason = key
        text, hint, level = REASONS.get(reason, _DEFAULT)
        if first:
            log.log(level, "%s: %s dropped (%s)%s; %s [further drops summarised every %.0f s]",
                    who, what, text, f": {detail}" if detail not in ("", None) else "", hint,
                    self.interval)
        else:
            log.log(level, "%s: %d %ss dropped (%s) in the last %.0f s; %s",
                    who, count, what, text, self.interval, hint)
