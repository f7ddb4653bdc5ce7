"""Unsolicited AC → portal messages that expect an answer, with retries.

NTF_LOGOUT (0x08) is re-sent every ``interval`` until the portal answers with the flavour's
reply type (ACK_NTF_LOGOUT 0x0E for Huawei/H3C, ACK_LOGOUT 0x06 for CMCC, §1.10 step 5), up
to ``retries`` sends; the user is terminated anyway (EAG, §1.9). REQ_MACBINDING_INFO (0x30)
is retried the same way and answered by ACK_MACBINDING_INFO (0x31). Responses are matched
by SerialNo + UserIP + type and, in the 32-byte form, must carry the response authenticator
computed from our request's authenticator (§1.2). Outstanding requests are keyed by SerialNo and
UserIP, since an EAG-style AC sends every NTF_LOGOUT with SerialNo 0 (§1.6).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ac_adapters.codec import PortalPacket, encode, verify_authenticator
from ac_adapters.constants import PacketType
from ac_adapters.profiles import VendorProfile

__all__ = ["Notifier", "Outcome"]

Send = Callable[[bytes], None]
# called with the answer packet, or None when every retry went unanswered
Outcome = Callable[[PortalPacket | None], None]


@dataclass(slots=True)
class _Outstanding:
    packet: PortalPacket
    raw: bytes
    authenticator: bytes | None
    reply_type: int
    on_done: Outcome
    next_send: float
    sends: int = 1


class Notifier:
    """Tracks outstanding unsolicited requests; ``due`` is driven by the simulator's timer."""

    def __init__(
        self, profile: VendorProfile, secret: bytes, send: Send, *, interval: float, retries: int
    ) -> None:
        self.profile = profile
        self.secret = secret
        self._send = send
        self.interval = interval
        self.retries = retries
        self._lock = threading.Lock()
        self._serial = 0
        self._out: dict[tuple[int, str], _Outstanding] = {}     # (SerialNo, UserIP) → request
        self._in_use: Counter[int] = Counter()
        self.stats = {"sent": 0, "resent": 0, "acked": 0, "gave_up": 0, "bad_auth": 0, "unmatched": 0,
                      "superseded": 0}

    def next_serial(self) -> int:
        with self._lock:
            self._serial = self._serial % 0xFFFF + 1     # 1..65535; skip the ones in use
            while self._in_use[self._serial]:
                self._serial = self._serial % 0xFFFF + 1
            return self._serial

    def _forget(self, key: tuple[int, str]) -> _Outstanding:
        out = self._out.pop(key)
        self._in_use[key[0]] -= 1
        if not self._in_use[key[0]]:
            del self._in_use[key[0]]
        return out

    def submit(self, packet: PortalPacket, reply_type: int, now: float, on_done: Outcome) -> None:
        """Send ``packet`` (its serial_no must come from ``next_serial``) and keep retrying."""
        raw = encode(packet, header=self.profile.header, secret=self.secret)
        auth = raw[16:32] if self.profile.has_authenticator else None
        key = (packet.serial_no, packet.user_ip)
        with self._lock:
            if key in self._out:        # same SerialNo (0) and user, still unanswered: replaced
                self._forget(key)
                self.stats["superseded"] += 1
            self._out[key] = _Outstanding(packet, raw, auth, reply_type, on_done, now + self.interval)
            self._in_use[packet.serial_no] += 1
            self.stats["sent"] += 1
        self._send(raw)

    def send_once(self, packet: PortalPacket) -> None:
        """Fire-and-forget (NTF_USER_LOGON / NTF_USER_LOGOUT of the MAC-trigger flow)."""
        self._send(encode(packet, header=self.profile.header, secret=self.secret))
        with self._lock:
            self.stats["sent"] += 1

    def outstanding(self) -> int:
        with self._lock:
            return len(self._out)

    def expects(self, packet_type: int) -> bool:
        return packet_type in (
            self.profile.ntf_logout_reply, PacketType.ACK_NTF_LOGOUT, PacketType.ACK_LOGOUT,
            PacketType.ACK_MACBINDING_INFO,
        )

    def on_response(self, packet: PortalPacket, data: bytes) -> bool:
        """Match a portal reply. False = not ours / forged (the caller counts the drop)."""
        key = (packet.serial_no, packet.user_ip)
        with self._lock:
            out = self._out.get(key)
            if out is None or out.reply_type != packet.type:
                self.stats["unmatched"] += 1
                return False
            if out.authenticator is not None and not verify_authenticator(
                data, self.secret, out.authenticator
            ):
                self.stats["bad_auth"] += 1
                return False
            self._forget(key)
            self.stats["acked"] += 1
        out.on_done(packet)
        return True

    def due(self, now: float) -> None:
        """Re-send what is due; give up on what has used all its sends."""
        resend: list[bytes] = []
        failed: list[_Outstanding] = []
        with self._lock:
            for key, out in list(self._out.items()):
                if now < out.next_send:
                    continue
                if out.sends >= self.retries:
                    self._forget(key)
                    self.stats["gave_up"] += 1
                    failed.append(out)
                else:
                    out.sends += 1
                    out.next_send = now + self.interval
                    self.stats["resent"] += 1
                    resend.append(out.raw)
        for raw in resend:
            self._send(raw)
        for out in failed:
            out.on_done(None)
