"""The RADIUS socket loop: thin and forgiving (ARCHITECTURE style rule 3).

One ``RadiusServer`` per worker process owns an auth and an accounting UDP socket (both
SO_REUSEPORT, see ``radius.workers``). For every datagram it: decodes (``radius.wire``), finds
the AC by source address (short-TTL in-process cache of the registry, ``radius.ac_cache``),
verifies the authenticators and applies the AC's Message-Authenticator / Proxy-State policy
(``radius.ma_policy``), notes attributes the dictionary lacks (counted, never a reason to drop
unless ``drop_unknown_attributes``), consults the RFC 5080 duplicate cache, hands the request
to the policy handler, and sends back what the handler decided. Anything wrong is dropped,
counted by reason and AC and logged rate-limited (``radius.drops``); the loop never dies on
input.

Policy plugs in through a handler object (``AuthHandler`` / ``AcctHandler``, defined in
``radius.handlers`` and re-exported here), not by subclassing. A handler that raises
``StateUnavailable`` or a Redis error makes the server stay silent — the AC retries or fails
over — and the log says so loudly: no policy, no answer.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import time
from collections.abc import Callable
from typing import Any

from portal.aaa.acs import AcRecord
from portal.state import STATE_ERRORS, StateUnavailable
from radius import wire
from radius.ac_activity import AcActivity
from radius.ac_cache import AcCache
from radius.dedup import IN_PROGRESS, REPLAY, DedupCache, DedupKey
from radius.dictionary import KnownAttributes, unknown_attributes
from radius.drops import DropReporter
from radius.errors import InProgress, MalformedPacket
from radius.handlers import (
    AcctHandler,
    AuthHandler,
    AuthReply,
    BatchAcctHandler,
    BatchAuthHandler,
    ServerOptions,
)
from radius.ma_policy import MaGate
from radius.metrics import Metrics
from radius.wire import Attr, Code

__all__ = [
    "ACCT",
    "AUTH",
    "AcCache",
    "AcctHandler",
    "AuthHandler",
    "AuthReply",
    "BatchAcctHandler",
    "BatchAuthHandler",
    "RadiusServer",
    "ServerOptions",
    "bind_udp",
]

log = logging.getLogger(__name__)

AUTH, ACCT = 0, 1   # socket kinds, part of the dedup key (RFC 5080: "the receiving socket")
_WHAT = {AUTH: "Access-Request", ACCT: "Accounting-Request"}
# Drops the NOC's per-AC live state leaves out: normal retransmissions and our own troubles.
_NOC_QUIET = frozenset({"duplicate_in_progress", "state_unavailable", "handler_error"})
_BUFSIZE = wire.MAX_PACKET + 1   # one more, so an oversized datagram is detectable
# Enum members read per packet, as globals (``Code.X`` costs ~650 instructions more on 3.11).
_STATUS_SERVER, _ACCESS_REQUEST, _ACCESS_ACCEPT = Code.STATUS_SERVER, Code.ACCESS_REQUEST, Code.ACCESS_ACCEPT

# (request, AC, secret, dedup key) of a request that passed every check before policy.
_Admitted = tuple[wire.Request, AcRecord, bytes, DedupKey]


def bind_udp(host: str, port: int, *, reuseport: bool = True, rcvbuf: int = 4 << 20) -> socket.socket:
    """A non-blocking UDP socket bound to host:port (IPv6 if host contains ':')."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Capped by net.core.rmem_max; the default still works if refused.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Alarm:
    """Loud but bounded logging for "Redis is down": first occurrence, then every 10 s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.next_at = 0.0
        self.suppressed = 0

    def fire(self, what: str, exc: BaseException) -> None:
        now = self.clock()
        if now >= self.next_at:
            log.error("STATE UNAVAILABLE — not answering %s (AC will retry or fail over): %s "
                      "[%d more since last report]", what, exc, self.suppressed)
            self.next_at = now + 10.0
            self.suppressed = 0
        else:
            self.suppressed += 1


class RadiusServer:
    """The per-process socket loop. ``handle_datagram`` is the whole protocol; the loop only
    moves bytes (tests call ``handle_datagram`` directly as well as over sockets)."""

    def __init__(
        self,
        auth_handler: AuthHandler,
        acct_handler: AcctHandler | None,
        acs: AcCache,
        known: KnownAttributes,
        *,
        options: ServerOptions | None = None,
        metrics: Metrics | None = None,
        health: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.auth_handler = auth_handler
        self.acct_handler = acct_handler
        self.acs = acs
        self.known = known
        self.options = options or ServerOptions()
        self.metrics = metrics or Metrics()
        self.health = health
        self.clock = clock
        self.dedup = DedupCache(self.options.dedup_ttl, self.options.dedup_max_entries)
        self.drops = DropReporter(self.metrics)
        self.ma_gate = MaGate(acs.registry.redis)
        self._plain = known.plain
        self._alarm = _Alarm()
        self._sockets: list[tuple[socket.socket, int]] = []
        self._closers: list[Callable[[], None]] = []
        self._tickers: list[Callable[[], None]] = []
        # Per-AC last-seen / drop counters for the NOC, written by tick() (not per packet).
        self.activity = AcActivity(acs.registry.redis)

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the server closes (stops background threads such as the reaper)."""
        self._closers.append(fn)

    def on_tick(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` from the serving loop about once a second (``radius.workers`` calls
        :meth:`tick`): publishing counters to /metrics and the live figures, off the hot path."""
        self._tickers.append(fn)

    def tick(self) -> None:
        self.activity.flush()
        self.drops.tick()
        for fn in self._tickers:
            try:
                fn()
            except Exception:
                log.exception("periodic task failed")

    # --- sockets ---------------------------------------------------------------------------

    def add_socket(self, sock: socket.socket, kind: int) -> None:
        self._sockets.append((sock, kind))

    def serve_forever(self, should_stop: Callable[[], bool], poll: float = 0.5,
                      drain_budget: float = 2.0) -> None:
        """Receive until ``should_stop()``. Each pass drains what is ready on a socket (up to
        ``batch_max`` datagrams, non-blocking until EAGAIN) and decides the drained
        Access-Requests together: one Redis round trip for the batch instead of one each.

        On stop, what is already queued in the sockets' buffers is still answered (for at most
        ``drain_budget`` seconds): closing a socket discards its queue, and every datagram in it
        would otherwise cost the AC a retransmission timeout."""
        socks = [s for s, _ in self._sockets]
        kinds = {s.fileno(): k for s, k in self._sockets}
        while not should_stop():
            try:
                ready, _, _ = select.select(socks, [], [], poll)
            except InterruptedError:
                continue
            for sock in ready:
                for _ in range(4):   # a few batches per socket, then let the other one in
                    if self._serve_batch(sock, kinds[sock.fileno()]) < self.options.batch_max:
                        break
        deadline = time.monotonic() + drain_budget
        drained = 0
        pending = list(self._sockets)
        while pending and time.monotonic() < deadline:   # a batch from each in turn: a busy
            still = []                                   # auth socket cannot use up the budget
            for sock, kind in pending:
                served = self._serve_batch(sock, kind, wait=False)
                drained += served
                if served:
                    still.append((sock, kind))
            pending = still
        if drained:
            log.info("answered %d queued datagrams while stopping", drained)

    def _serve_batch(self, sock: socket.socket, kind: int, wait: bool = True) -> int:
        """Read up to ``batch_max`` ready datagrams from ``sock``, decide them, send the
        replies; return how many were read (0: nothing was waiting)."""
        batch_max = max(1, self.options.batch_max)
        batch_wait = max(0.0, self.options.batch_wait) if wait else 0.0
        recvfrom = sock.recvfrom
        inc = self.metrics.inc
        batch: list[tuple[bytes, Any]] = []
        for attempt in (0, 1):
            while len(batch) < batch_max:
                try:
                    batch.append(recvfrom(_BUFSIZE))
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:   # e.g. ICMP errors surfaced on the socket
                    inc("socket.recv_error")
                    log.debug("recvfrom: %s", exc)
                    break
            if attempt or not batch or len(batch) >= batch_max or not batch_wait:
                break
            # Coalesce: under load more requests are on their way; a short wait lets one
            # Redis round trip (and one wake-up) serve them all.
            time.sleep(batch_wait)
        if not batch:
            return 0
        inc("rx.batches")
        sendto = sock.sendto
        for (_, addr), reply in zip(batch, self.handle_batch(batch, kind), strict=True):
            if reply is not None:
                try:
                    sendto(reply, addr)
                except OSError as exc:
                    inc("socket.send_error")
                    log.warning("sendto %s: %s", addr, exc)
        return len(batch)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.activity.flush()
        for sock, _ in self._sockets:
            sock.close()
        self._sockets.clear()
        closers, self._closers = self._closers, []
        for fn in closers:
            fn()

    # --- protocol --------------------------------------------------------------------------

    def _drop(self, reason: str, addr: Any, what: str, ac_name: str | None = None,
              detail: object = "") -> None:
        """Count and report a drop (``radius.drops``); a known AC's also goes to the NOC."""
        self.drops.drop(reason, what, ac_name, addr[0], detail)
        if ac_name is not None and reason not in _NOC_QUIET:
            self.activity.dropped(ac_name, reason)

    def _admit(self, data: bytes, addr: Any, kind: int) -> _Admitted | bytes | None:
        """Everything before policy: decode, client, authenticators, RFC 5080 dedup. Returns the
        admitted request (its dedup entry begun), an immediate answer (a cached reply or a
        Status-Server answer), or None (dropped and counted). The caller counts it received."""
        what = _WHAT[kind]
        try:
            req = wire.decode(data)
        except MalformedPacket as exc:
            sender = self.acs.peek(addr[0])   # unauthenticated: named by source, if cached
            self._drop(exc.code, addr, what, sender.record.name if sender else None, exc)
            return None
        ip, port = addr[0], addr[1]
        try:
            found = self.acs.lookup(ip)
        except STATE_ERRORS as exc:
            self._alarm.fire("AC lookup", exc)
            self._drop("state_unavailable", addr, what)
            return None
        if found is None:
            self._drop("unknown_client", addr, what)
            return None
        ac, secret = found.record, found.secret
        name = ac.name
        self.activity.seen(name)
        if not ac.enabled:
            self._drop("ac_disabled", addr, what, name)
            return None
        code = req.code
        if code == _STATUS_SERVER:
            return self._status_server(req, ac, secret, addr, kind)
        if kind == AUTH:
            if code != _ACCESS_REQUEST:
                self._drop("unexpected_code", addr, what, name, f"code {code}")
                return None
            if req.ma_offset >= 0:
                if not wire.verify_message_authenticator(req, secret):
                    self._drop("bad_message_authenticator", addr, what, name)
                    return None
                if found.ma.pending:   # require_message_authenticator / limit_proxy_state = auto
                    self.ma_gate.signed(name, found.ma)
            else:
                reason = self.ma_gate.unsigned(name, found.ma, Attr.PROXY_STATE in req.first)
                if reason is not None:
                    self._drop(reason, addr, what, name)
                    return None
        else:
            if code != Code.ACCOUNTING_REQUEST:
                self._drop("unexpected_code", addr, what, name, f"code {code}")
                return None
            if not wire.verify_accounting_authenticator(req, secret):
                self._drop("bad_authenticator", addr, what, name)
                return None
            if req.ma_offset >= 0 and not _verify_acct_ma(req, secret):
                self._drop("bad_message_authenticator", addr, what, name)
                return None
        # Only an authenticated packet gets here: one C-level subset test in the usual case;
        # VSAs, RFC 6929 types and anything unknown take the closer look.
        if not req.first.keys() <= self._plain:
            unknown = unknown_attributes(req.attrs, self.known)
            if unknown:
                if self.options.drop_unknown_attributes:
                    self._drop("unknown_attribute", addr, what, name, ", ".join(unknown))
                    return None
                self.drops.unknown_attributes(name, what, unknown)
        if ac.radius_proxy:
            # A trusted proxy: the packet is authenticated with its secret (replies are signed
            # with it too), but the AC is the one its NAS-IP-Address / NAS-Identifier names.
            try:
                real = self.acs.behind(ac, _nas_ip(req), req.text(Attr.NAS_IDENTIFIER))
            except STATE_ERRORS as exc:
                self._alarm.fire("AC lookup", exc)
                self._drop("state_unavailable", addr, what, name)
                return None
            if real is None:
                self._drop("unknown_nas_behind_proxy", addr, what, name)
                return None
            ac = real
            self.activity.seen(ac.name)
        key = (ip, port, req.ident, req.authenticator, kind)
        state, cached = self.dedup.lookup(key, req.raw)
        if state is REPLAY:
            self.metrics.inc("duplicate.replayed")
            return cached
        if state is IN_PROGRESS:
            self._drop("duplicate_in_progress", addr, what, name)
            return None
        self.dedup.begin(key, req.raw)
        return req, ac, secret, key

    def handle_datagram(self, data: bytes, addr: Any, kind: int) -> bytes | None:
        """One datagram in, the reply bytes (or None to stay silent) out. Never raises."""
        self.metrics.inc("rx.auth" if kind == AUTH else "rx.acct")
        admitted = self._admit(data, addr, kind)
        if not isinstance(admitted, tuple):
            return admitted
        req, ac, secret, key = admitted
        try:
            reply = (self._auth(req, ac, secret) if kind == AUTH else self._acct(req, ac, secret))
        except STATE_ERRORS as exc:
            self.dedup.abort(key)
            self._alarm.fire(_WHAT[kind], exc)
            self._drop("state_unavailable", addr, _WHAT[kind], ac.name)
            return None
        except InProgress:
            self.dedup.abort(key)
            self._drop("duplicate_in_progress", addr, _WHAT[kind], ac.name)
            return None
        except Exception:
            self.dedup.abort(key)
            log.exception("handler failed on a packet from %s (%s); not answering", addr, ac.name)
            self._drop("handler_error", addr, _WHAT[kind], ac.name)
            return None
        self.dedup.finish(key, reply)
        return reply

    def handle_batch(self, datagrams: list[tuple[bytes, Any]], kind: int) -> list[bytes | None]:
        """Several datagrams from one socket in, one reply (or None) per datagram out, in order.
        Never raises. Requests that pass ``_admit`` go to the handler together
        (``handle_auth_batch`` / ``handle_acct_batch``: one Redis round trip for the batch); if
        Redis fails, none of them is answered. A retransmission of a request in the same batch
        is dropped as in progress (RFC 5080)."""
        what = _WHAT[kind]
        if kind == AUTH:
            batch_fn = getattr(self.auth_handler, "handle_auth_batch", None)
        else:
            batch_fn = getattr(self.acct_handler, "handle_acct_batch", None)
        if batch_fn is None or len(datagrams) == 1:
            return [self.handle_datagram(data, addr, kind) for data, addr in datagrams]
        self.metrics.inc("rx.auth" if kind == AUTH else "rx.acct", len(datagrams))
        out: list[bytes | None] = [None] * len(datagrams)
        pending: list[tuple[int, Any, _Admitted]] = []
        for i, (data, addr) in enumerate(datagrams):
            admitted = self._admit(data, addr, kind)
            if isinstance(admitted, tuple):
                pending.append((i, addr, admitted))
            else:
                out[i] = admitted
        if not pending:
            return out
        try:
            decisions = batch_fn([(a[0], a[1], a[2]) for _, _, a in pending], self.clock())
            if len(decisions) != len(pending):
                raise RuntimeError(f"{len(decisions)} decisions for {len(pending)} requests")
        except STATE_ERRORS as exc:
            self._alarm.fire(what, exc)
            for _, addr, (_, ac, _, key) in pending:
                self.dedup.abort(key)
                self._drop("state_unavailable", addr, what, ac.name)
            return out
        except Exception:
            log.exception("handler failed on a batch of %d; not answering", len(pending))
            for _, addr, (_, ac, _, key) in pending:
                self.dedup.abort(key)
                self._drop("handler_error", addr, what, ac.name)
            return out
        for (i, addr, (req, ac, secret, key)), decision in zip(pending, decisions, strict=True):
            if isinstance(decision, BaseException):
                self.dedup.abort(key)
                if isinstance(decision, STATE_ERRORS):
                    self._alarm.fire(what, decision)
                    self._drop("state_unavailable", addr, what, ac.name)
                elif isinstance(decision, InProgress):
                    self._drop("duplicate_in_progress", addr, what, ac.name)
                else:
                    log.error("handler failed on a packet from %s (%s): %r; not answering",
                              addr, ac.name, decision)
                    self._drop("handler_error", addr, what, ac.name)
                continue
            try:
                reply = (self._auth_reply(req, secret, decision, ac.name) if kind == AUTH
                         else self._acct_reply(req, secret))
            except Exception:
                self.dedup.abort(key)
                log.exception("could not encode the reply to %s (%s); not answering", addr, ac.name)
                self._drop("handler_error", addr, what, ac.name)
                continue
            self.dedup.finish(key, reply)
            out[i] = reply
        return out

    def _auth(self, req: wire.Request, ac: AcRecord, secret: bytes) -> bytes:
        return self._auth_reply(req, secret, self.auth_handler.handle_auth(req, ac, secret, self.clock()),
                                ac.name)

    def _auth_reply(self, req: wire.Request, secret: bytes, decision: AuthReply, ac: str) -> bytes:
        if decision.code == _ACCESS_ACCEPT:
            self.metrics.inc("auth.accept")
        else:
            self.metrics.inc("auth.reject")
            self.metrics.refused(decision.reason or "unspecified", ac, req.text(Attr.CALLED_STATION_ID))
        return wire.encode_reply(decision.code, req.ident, req.authenticator, secret,
                                 decision.attrs, req.all(Attr.PROXY_STATE))

    def _acct(self, req: wire.Request, ac: AcRecord, secret: bytes) -> bytes:
        if self.acct_handler is None:
            raise StateUnavailable("no accounting handler configured")
        self.acct_handler.handle_acct(req, ac, secret, self.clock())
        return self._acct_reply(req, secret)

    def _acct_reply(self, req: wire.Request, secret: bytes) -> bytes:
        self.metrics.inc("acct.ok")
        # RFC 2866 §4.2: Accounting-Response; no Message-Authenticator needed (RFC 3579 §3.2).
        return wire.encode_reply(Code.ACCOUNTING_RESPONSE, req.ident, req.authenticator, secret,
                                 (), req.all(Attr.PROXY_STATE), message_authenticator=False)

    def _status_server(self, req: wire.Request, ac: AcRecord, secret: bytes, addr: Any,
                       kind: int) -> bytes | None:
        # RFC 5997 §3: Status-Server MUST carry a valid Message-Authenticator.
        if req.ma_offset < 0 or not wire.verify_message_authenticator(req, secret):
            self._drop("bad_message_authenticator", addr, "Status-Server", ac.name)
            return None
        # Only claim to be alive if we could actually apply policy: an AC uses Status-Server to
        # pick a live server, so answering without Redis would attract traffic we must drop.
        if self.health is not None:
            try:
                healthy = self.health()
            except STATE_ERRORS:
                healthy = False
            if not healthy:
                self._alarm.fire("Status-Server", StateUnavailable("health check failed"))
                self._drop("state_unavailable", addr, "Status-Server", ac.name)
                return None
        self.metrics.inc("status_server")
        code = Code.ACCESS_ACCEPT if kind == AUTH else Code.ACCOUNTING_RESPONSE
        return wire.encode_reply(code, req.ident, req.authenticator, secret, (),
                                 req.all(Attr.PROXY_STATE))


def _verify_acct_ma(req: wire.Request, secret: bytes) -> bool:
    # RFC 3579 §3.2: for Accounting-Request the Request Authenticator field is taken as zeros.
    raw = req.raw
    zeroed = wire.Request(req.code, req.ident, bytes(16), raw[:4] + bytes(16) + raw[20:],
                          req.attrs, req.first, req.ma_offset)
    return wire.verify_message_authenticator(zeroed, secret)


def _nas_ip(req: wire.Request) -> str | None:
    raw = req.get(Attr.NAS_IP_ADDRESS)
    return ".".join(str(b) for b in raw) if raw is not None and len(raw) == 4 else None
