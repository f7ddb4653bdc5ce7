"""Non-blocking RADIUS client of the simulated AC (pyrad packets, our own sockets).

The portal loop must never wait for RADIUS, so ``send`` only queues: a receiver thread matches
replies (by socket + Identifier, then pyrad's ``VerifyReply``: Response Authenticator,
Message-Authenticator, Proxy-State) and calls the callback with the reply, or with None after
``retries`` sends of ``timeout`` seconds each. pyrad's Identifier is 8 bits, so one socket holds
at most 256 outstanding requests (``docs/protocols/radius.md`` §1.5); more sockets are opened on demand,
which is how a real AC with thousands of users behaves too.

Several servers (a real AC's RADIUS server group): a retransmission goes to the next server
in the list, and a server that let a request time out counts as dead for ``dead_time``
seconds, so new requests skip it. ``balance=False`` (Huawei "master-backup") sends new requests
to the first live server; ``balance=True`` ("loading-share") rotates over the live ones.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyrad.dictionary import Dictionary
from pyrad.packet import AcctPacket, AuthPacket, Packet, PacketError

__all__ = ["DICTIONARY_PATH", "RadiusClient", "load_dictionary"]

log = logging.getLogger(__name__)

DICTIONARY_PATH = Path(__file__).with_name("dictionary")
_MAX_SOCKETS = 64
_dictionary: Dictionary | None = None
_dictionary_lock = threading.Lock()


def load_dictionary() -> Dictionary:
    """The simulator's lean dictionary (parsed once per process)."""
    global _dictionary
    with _dictionary_lock:
        if _dictionary is None:
            _dictionary = Dictionary(str(DICTIONARY_PATH))
        return _dictionary


Callback = Callable[[Packet | None], None]


@dataclass(slots=True)
class _Pending:
    packet: Packet
    raw: bytes
    dest: tuple[str, int]
    callback: Callback
    deadline: float
    tries: int = 1
    server: int = 0
    accounting: bool = False


@dataclass(slots=True)
class _Sock:
    sock: socket.socket
    free_ids: list[int] = field(default_factory=lambda: list(range(255, -1, -1)))


class RadiusClient:
    """Send Access/Accounting-Requests without blocking; thread-safe."""

    def __init__(
        self,
        host: str,
        *,
        secret: bytes,
        auth_port: int = 1812,
        acct_port: int = 1813,
        timeout: float = 2.0,
        retries: int = 3,
        dictionary: Dictionary | None = None,
        fallbacks: tuple[tuple[str, int, int], ...] = (),
        balance: bool = False,
        dead_time: float = 10.0,
    ) -> None:
        self.host = host
        self.auth_port = auth_port
        self.acct_port = acct_port
        # (host, auth port, acct port) of every server; the first is the primary.
        self.servers = [(host, auth_port, acct_port), *fallbacks]
        self.balance = balance
        self.dead_time = dead_time
        self._dead_until = [0.0] * len(self.servers)
        self._turn = [0, 0]    # loading-share position of auth and of accounting requests
        self.secret = secret
        self.timeout = timeout
        self.retries = max(1, retries)
        self.dict = dictionary or load_dictionary()
        self._lock = threading.Lock()
        self._socks: list[_Sock] = []
        self._pending: dict[tuple[int, int], _Pending] = {}
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"sent": 0, "retransmitted": 0, "replies": 0, "timeouts": 0, "bad_replies": 0,
                      "failovers": 0}
        self.replies_by_server = [0] * len(self.servers)

    # --- packets --------------------------------------------------------------------------

    def auth_packet(self) -> Packet:
        pkt = AuthPacket(secret=self.secret, dict=self.dict)
        pkt.add_message_authenticator()   # BlastRADIUS: on every Access-Request (§1.4)
        return pkt

    def acct_packet(self) -> Packet:
        return AcctPacket(secret=self.secret, dict=self.dict)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> RadiusClient:
        self._thread = threading.Thread(target=self._run, name="ac-sim-radius", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for s in self._socks:
                s.sock.close()
            self._socks.clear()
            pending = list(self._pending.values())
            self._pending.clear()
        self._selector.close()
        for p in pending:
            self._safe_callback(p.callback, None)

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    # --- sending --------------------------------------------------------------------------

    def send(self, packet: Packet, callback: Callback, *, accounting: bool = False) -> None:
        """Queue ``packet`` (its Identifier is assigned here) to the auth or acct port."""
        with self._lock:
            server = self._pick_server(time.monotonic(), accounting)
            dest = self._dest(server, accounting)
            index, ident = self._allocate_id()
            packet.id = ident
            raw = packet.RequestPacket()
            self._pending[(index, ident)] = _Pending(
                packet, raw, dest, callback, time.monotonic() + self.timeout, 1, server, accounting
            )
            sock = self._socks[index].sock
            self.stats["sent"] += 1
        try:
            sock.sendto(raw, dest)
        except OSError as exc:   # e.g. ECONNREFUSED from a previous ICMP: the retry covers it
            log.debug("RADIUS send to %s failed: %s", dest, exc)

    def _dest(self, server: int, accounting: bool) -> tuple[str, int]:
        host, auth, acct = self.servers[server]
        return host, acct if accounting else auth

    def _pick_server(self, now: float, accounting: bool) -> int:
        """The server for a new request (lock held): live ones first, in list or rotating order."""
        n = len(self.servers)
        start = 0
        if self.balance:
            start = self._turn[accounting]
            self._turn[accounting] = (start + 1) % n
        for k in range(n):
            candidate = (start + k) % n
            if self._dead_until[candidate] <= now:
                return candidate
        return start   # all marked dead: try anyway (one may be back)

    def _allocate_id(self) -> tuple[int, int]:
        for index, s in enumerate(self._socks):
            if s.free_ids:
                return index, s.free_ids.pop()
        if len(self._socks) >= _MAX_SOCKETS:
            raise RuntimeError(f"more than {_MAX_SOCKETS * 256} RADIUS requests outstanding")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", 0))
        sock.setblocking(False)
        self._socks.append(_Sock(sock))
        index = len(self._socks) - 1
        self._selector.register(sock, selectors.EVENT_READ, index)
        return index, self._socks[index].free_ids.pop()

    # --- receiving and retransmission -----------------------------------------------------

    def _run(self) -> None:
        next_scan = 0.0
        while not self._stop.is_set():
            try:
                events = self._selector.select(timeout=0.05)
            except (OSError, ValueError):
                if self._stop.is_set():
                    return
                time.sleep(0.05)
                continue
            for key, _mask in events:
                self._drain(key.fileobj, key.data)  # type: ignore[arg-type]
            now = time.monotonic()
            if now >= next_scan:
                self._retransmit(now)
                next_scan = now + 0.05

    def _drain(self, sock: socket.socket, index: int) -> None:
        while True:
            try:
                data, _addr = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(data) < 20:
                self.stats["bad_replies"] += 1
                continue
            with self._lock:
                pending = self._pending.get((index, data[1]))
            if pending is None:
                self.stats["bad_replies"] += 1
                continue
            try:
                reply = Packet(packet=data, dict=self.dict, secret=self.secret)
                valid = pending.packet.VerifyReply(reply, data)
            except (PacketError, KeyError, ValueError, IndexError, TypeError):
                valid = False
            if not valid:
                self.stats["bad_replies"] += 1
                continue
            with self._lock:
                if self._pending.pop((index, data[1]), None) is None:
                    continue
                self._socks[index].free_ids.append(data[1])
                self.stats["replies"] += 1
                self.replies_by_server[pending.server] += 1
                self._dead_until[pending.server] = 0.0
            self._safe_callback(pending.callback, reply)

    def _retransmit(self, now: float) -> None:
        expired: list[_Pending] = []
        resend: list[tuple[socket.socket, _Pending]] = []
        with self._lock:
            for key, p in list(self._pending.items()):
                if now < p.deadline:
                    continue
                if p.tries >= self.retries:
                    del self._pending[key]
                    self._socks[key[0]].free_ids.append(key[1])
                    self.stats["timeouts"] += 1
                    expired.append(p)
                else:
                    p.tries += 1
                    p.deadline = now + self.timeout
                    self.stats["retransmitted"] += 1
                    if len(self.servers) > 1:
                        # The server let it time out: mark it dead, retransmit to the next one.
                        self._dead_until[p.server] = now + self.dead_time
                        p.server = (p.server + 1) % len(self.servers)
                        p.dest = self._dest(p.server, p.accounting)
                        self.stats["failovers"] += 1
                    resend.append((self._socks[key[0]].sock, p))
        for sock, p in resend:
            with contextlib.suppress(OSError):
                sock.sendto(p.raw, p.dest)   # same ID + authenticator: a true retransmission
        for p in expired:
            self._safe_callback(p.callback, None)

    @staticmethod
    def _safe_callback(callback: Callback, reply: Packet | None) -> None:
        try:
            callback(reply)
        except Exception:   # a bug in the AC logic must not kill the receiver thread
            log.exception("RADIUS callback failed")
