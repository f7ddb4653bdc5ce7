"""A loopback fake of an AC's RFC 5176 Dynamic Authorization server, built on pyrad packets.

It checks what a real AC checks — Request Authenticator (RFC 5176 §3.3), Message-Authenticator
when present (or required), Event-Timestamp within ``window`` seconds (§3.5) — and answers
Disconnect-/CoA-ACK or NAK (with Error-Cause). ``drop_first`` silently ignores the first N valid
requests to exercise retransmission. Every valid request is kept in ``received``; invalid ones
are counted in ``bad`` and never answered.

With ``sessions`` it behaves like a NAS that looks sessions up by comparing strings: each entry
is one live session, attribute name → value exactly as the NAS holds it (and sent it in
accounting). A request whose NAS-IP-Address is not ``nas_ip`` gets NAK 403 (NAS Identification
Mismatch); otherwise every session identifier the request carries must equal the entry's value
character for character, else NAK 503 (Session Context Not Found). A matched Disconnect removes
the entry.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from typing import Any

from pyrad.packet import CoANAK, CoAPacket, DisconnectNAK, DisconnectRequest

from radius.dictionary import load_dictionary

__all__ = ["SESSION_IDENTIFIERS", "FakeDmServer"]

# RFC 5176 §3 session identification attributes the fake NAS matches on.
SESSION_IDENTIFIERS = ("User-Name", "Acct-Session-Id", "Framed-IP-Address", "Calling-Station-Id",
                       "NAS-Identifier")


class FakeDmServer:
    def __init__(self, secret: bytes = b"testing123", *, host: str = "127.0.0.1",
                 nak_cause: int | None = None, drop_first: int = 0,
                 require_message_authenticator: bool = True, window: float = 300.0,
                 sessions: list[dict[str, str]] | None = None, nas_ip: str | None = None) -> None:
        self.secret = secret
        self.sessions = sessions
        self.nas_ip = nas_ip
        self.nak_cause = nak_cause
        self.drop_first = drop_first
        self.require_ma = require_message_authenticator
        self.window = window
        self.received: list[CoAPacket] = []
        self.raw: list[bytes] = []
        self.bad = 0
        self.dropped = 0
        self._dict = load_dictionary()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.1)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-dm", daemon=True)

    def __enter__(self) -> FakeDmServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self._sock.close()

    def attr(self, index: int, name: str) -> Any:
        """A decoded attribute of the index-th valid request (first value)."""
        values = self.received[index].get(name)
        return values[0] if values else None

    def _valid(self, pkt: CoAPacket) -> bool:
        if pkt.code not in (DisconnectRequest, 43):
            return False
        if not pkt.VerifyCoARequest():
            return False
        if pkt.message_authenticator is None:
            if self.require_ma:
                return False
        elif not pkt.verify_message_authenticator():
            return False
        ts = pkt.get(55)
        return not (ts is None or abs(struct.unpack("!I", ts[0])[0] - time.time()) > self.window)

    def _lookup(self, pkt: CoAPacket) -> int | None:
        """None = found (ACK); else the Error-Cause. Without a session table: always found."""
        if self.sessions is None:
            return None
        nas_ip = pkt.get("NAS-IP-Address")
        if nas_ip and self.nas_ip is not None and str(nas_ip[0]) != self.nas_ip:
            return 403
        given = {name: str(pkt[name][0]) for name in SESSION_IDENTIFIERS if pkt.get(name)}
        for i, session in enumerate(self.sessions):
            if all(session.get(name) == value for name, value in given.items()):
                if pkt.code == DisconnectRequest:
                    del self.sessions[i]
                return None
        return 503

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                pkt = CoAPacket(packet=data, secret=self.secret, dict=self._dict)
                ok = self._valid(pkt)
            except Exception:
                ok = False
            if not ok:
                self.bad += 1
                continue
            self.received.append(pkt)
            self.raw.append(data)
            if self.dropped < self.drop_first:
                self.dropped += 1
                continue
            reply = pkt.CreateReply()
            cause = self.nak_cause if self.nak_cause is not None else self._lookup(pkt)
            if cause is not None:
                reply.code = DisconnectNAK if pkt.code == DisconnectRequest else CoANAK
                reply["Error-Cause"] = cause
            reply.add_message_authenticator()
            with contextlib.suppress(OSError):
                self._sock.sendto(reply.ReplyPacket(), addr)
