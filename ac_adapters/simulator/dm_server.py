"""RFC 5176 Dynamic Authorization server of the simulated AC (Disconnect / CoA on coa_port).

Requests whose Request Authenticator (or Message-Authenticator, when present) does not verify
with the RADIUS secret are dropped silently, as RFC 5176 §3.5 / RFC 5080 §2.3.3 require.
A session is identified by every identifier present among Acct-Session-Id, User-Name,
Framed-IP-Address and Calling-Station-Id; none present → NAK 402, NAS-IP-Address or
NAS-Identifier of another NAS → NAK 403, no match → NAK 503 (``docs/protocols/radius.md`` §5).
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from pyrad.packet import CoAPacket, PacketError

from ac_adapters.simulator.portal_server import UdpServer
from ac_adapters.simulator.radius_client import load_dictionary
from ac_adapters.simulator.sim_accounting import TerminateCause
from ac_adapters.simulator.sim_auth import RATE_ATTRIBUTES

if TYPE_CHECKING:
    from ac_adapters.simulator.core import SimulatedAc

__all__ = ["DmCode", "DmServer", "ErrorCause"]

log = logging.getLogger(__name__)


class DmCode(IntEnum):
    """RADIUS codes of RFC 5176 §2."""

    DISCONNECT_REQUEST = 40
    DISCONNECT_ACK = 41
    DISCONNECT_NAK = 42
    COA_REQUEST = 43
    COA_ACK = 44
    COA_NAK = 45


class ErrorCause(IntEnum):
    """Error-Cause values we send (RFC 5176 §3.6)."""

    MISSING_ATTRIBUTE = 402
    NAS_IDENTIFICATION_MISMATCH = 403
    SESSION_CONTEXT_NOT_FOUND = 503


_IDENTIFIERS = ("Acct-Session-Id", "User-Name", "Framed-IP-Address", "Calling-Station-Id")
_COA_ATTRS = ("Session-Timeout", "Idle-Timeout", "Acct-Interim-Interval", "Filter-Id", *RATE_ATTRIBUTES)


class DmServer:
    def __init__(self, ac: SimulatedAc, host: str, port: int) -> None:
        self.ac = ac
        self.secret = ac.config.radius_secret
        self.dict = load_dictionary()
        self._server = UdpServer(host, port, self._on_datagram, name="ac-sim-dm")

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> DmServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _count(self, key: str) -> None:
        with self.ac._lock:
            self.ac.stats[key] += 1

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        self._count("dm_received")
        if len(data) < 20 or data[0] not in (DmCode.DISCONNECT_REQUEST, DmCode.COA_REQUEST):
            self._count("dm_dropped_malformed")
            return
        try:
            pkt = CoAPacket(packet=data, secret=self.secret, dict=self.dict)
        except (PacketError, KeyError, ValueError, IndexError, TypeError) as exc:
            log.debug("malformed DM/CoA from %s: %s", addr, exc)
            self._count("dm_dropped_malformed")
            return
        if not pkt.VerifyCoARequest():
            self._count("dm_dropped_bad_auth")
            return
        if 80 in pkt and not self._ma_ok(pkt):
            self._count("dm_dropped_bad_auth")
            return
        is_disconnect = pkt.code == DmCode.DISCONNECT_REQUEST
        ok, cause = self._decide(pkt, is_disconnect)
        if is_disconnect:
            code = DmCode.DISCONNECT_ACK if ok else DmCode.DISCONNECT_NAK
        else:
            code = DmCode.COA_ACK if ok else DmCode.COA_NAK
        reply = pkt.CreateReply()     # keeps ID, authenticator, Proxy-State (RFC 5176 §3)
        reply.code = int(code)
        if cause is not None:
            reply["Error-Cause"] = int(cause)
        self._count(f"dm_{code.name.lower()}")
        self._server.send(reply.ReplyPacket(), addr)

    def _ma_ok(self, pkt: CoAPacket) -> bool:
        try:
            return bool(pkt.verify_message_authenticator())
        except Exception:   # pyrad raises on odd lengths; treat as forged
            return False

    def _decide(self, pkt: CoAPacket, is_disconnect: bool) -> tuple[bool, ErrorCause | None]:
        cfg = self.ac.config
        if "NAS-IP-Address" in pkt and pkt["NAS-IP-Address"][0] != cfg.nas_ip:
            return False, ErrorCause.NAS_IDENTIFICATION_MISMATCH
        if "NAS-Identifier" in pkt and pkt["NAS-Identifier"][0] != cfg.nas_identifier:
            return False, ErrorCause.NAS_IDENTIFICATION_MISMATCH
        criteria = {name: str(pkt[name][0]) for name in _IDENTIFIERS if name in pkt}
        if not criteria:
            return False, ErrorCause.MISSING_ATTRIBUTE
        ip = self.ac.find_session(criteria)
        if ip is None:
            return False, ErrorCause.SESSION_CONTEXT_NOT_FOUND
        if is_disconnect:
            ended = self.ac.end_session(ip, TerminateCause.ADMIN_RESET)
            return (True, None) if ended else (False, ErrorCause.SESSION_CONTEXT_NOT_FOUND)
        attrs: dict[str, Any] = {name: pkt[name][0] for name in _COA_ATTRS if name in pkt}
        if not self.ac.apply_coa(ip, attrs):
            return False, ErrorCause.SESSION_CONTEXT_NOT_FOUND
        return True, None
