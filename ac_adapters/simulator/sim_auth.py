"""What the simulated AC asks RADIUS on REQ_AUTH, and what it takes from the answer.

Access-Request (RFC 2865 + §1.8 of the portal spec): User-Name, CHAP-Password = ChapID ‖ digest
and CHAP-Challenge = the 16-byte challenge (or User-Password for PAP), NAS-IP-Address,
NAS-Identifier, NAS-Port-Type Wireless-802.11, Framed-IP-Address, Calling-Station-Id = user MAC,
Called-Station-Id = ``AP-MAC:SSID`` (RFC 3580 §3.20), Acct-Session-Id (reused by accounting,
RFC 2866 §5.5) and Message-Authenticator (added by ``RadiusClient.auth_packet``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyrad.packet import AccessAccept, Packet

from ac_adapters.simulator import texts
from ac_adapters.simulator.sim_accounting import radius_mac

__all__ = ["RATE_ATTRIBUTES", "AuthResult", "called_station_id", "fill_access_request", "local_check"]

# Rate attributes the simulator applies and prints (docs/protocols/radius.md §2.2, all bit/s).
RATE_ATTRIBUTES = (
    "Huawei-Input-Average-Rate", "Huawei-Input-Peak-Rate",
    "Huawei-Output-Average-Rate", "Huawei-Output-Peak-Rate",
    "H3C-Input-Average-Rate", "H3C-Input-Peak-Rate",
    "H3C-Output-Average-Rate", "H3C-Output-Peak-Rate",
    "WISPr-Bandwidth-Max-Up", "WISPr-Bandwidth-Max-Down",
)


def called_station_id(ap_mac: str, ssid: str) -> str:
    return f"{radius_mac(ap_mac)}:{ssid}"


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Outcome of one authentication, whoever decided it."""

    accepted: bool
    timed_out: bool = False
    attrs: Mapping[str, Any] = field(default_factory=dict)   # first value of each reply attribute
    reply_messages: tuple[str, ...] = ()

    @classmethod
    def from_reply(cls, reply: Packet | None) -> AuthResult:
        if reply is None:
            return cls(accepted=False, timed_out=True)
        attrs: dict[str, Any] = {}
        messages: list[str] = []
        for key in list(reply.keys()):   # pyrad decodes names in keys()
            if not isinstance(key, str):
                continue   # attributes our lean dictionary does not know
            values = reply[key]
            if key == "Reply-Message":
                messages.extend(str(v) for v in values)
            elif values:
                attrs[key] = values[0]
        return cls(accepted=reply.code == AccessAccept, attrs=attrs, reply_messages=tuple(messages))

    def number(self, name: str) -> float | None:
        value = self.attrs.get(name)
        return float(value) if isinstance(value, int) and value > 0 else None

    def rates(self) -> dict[str, int]:
        return {n: int(self.attrs[n]) for n in RATE_ATTRIBUTES if isinstance(self.attrs.get(n), int)}


def fill_access_request(
    pkt: Packet,
    *,
    username: str,
    chap: bool,
    password: bytes = b"",
    chap_id: int = 0,
    chap_digest: bytes = b"",
    challenge: bytes = b"",
    user_ip: str,
    user_mac: str,
    nas_ip: str,
    nas_identifier: str,
    called_station: str,
    session_id: str,
) -> Packet:
    pkt["User-Name"] = username
    if chap:
        pkt["CHAP-Password"] = bytes((chap_id & 0xFF,)) + chap_digest
        pkt["CHAP-Challenge"] = challenge
    else:
        pkt["User-Password"] = pkt.PwCrypt(password)
    pkt["NAS-IP-Address"] = nas_ip
    pkt["NAS-Identifier"] = nas_identifier
    pkt["NAS-Port-Type"] = 19                  # Wireless-802.11
    pkt["Service-Type"] = 1                    # Login-User (what portal ACs commonly send)
    pkt["Framed-IP-Address"] = user_ip
    pkt["Calling-Station-Id"] = radius_mac(user_mac)
    pkt["Called-Station-Id"] = called_station
    pkt["Acct-Session-Id"] = session_id
    return pkt


def local_check(
    users: Mapping[str, str],
    reply: Mapping[str, Any],
    *,
    username: str,
    chap: bool,
    password: bytes = b"",
    chap_id: int = 0,
    chap_digest: bytes = b"",
    challenge: bytes = b"",
) -> AuthResult:
    """The RADIUS decision made locally (``local_users`` mode): CHAP per RFC 1994, PAP plain."""
    known = users.get(username)
    if known is None:
        return AuthResult(False, reply_messages=(texts.UNKNOWN_USER,))
    secret = known.encode()
    if chap:
        expected = hashlib.md5(bytes((chap_id & 0xFF,)) + secret + challenge).digest()
        ok = hmac.compare_digest(expected, chap_digest)
    else:
        ok = hmac.compare_digest(secret, password)
    if not ok:
        return AuthResult(False, reply_messages=(texts.WRONG_PASSWORD,))
    return AuthResult(True, attrs=dict(reply))
