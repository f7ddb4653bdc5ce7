"""Who sent a datagram to the portal listener: the AC peers, the handler interface, and the rule
that ties a datagram to one AC.

The source address decides. A datagram is accepted only from an address the AC sends from
(``AcPeer.sources``, by default its configured address); the BAS-IP attribute inside it is the
sender's own claim, so it only chooses among ACs that share that address (several ACs behind one
NAT address). Identifying an AC by BAS-IP alone would let anyone who can reach UDP 50100 speak
for any AC whose packets carry no authenticator (spec §1.2: the 16-byte flavours, EAG's
MAC-trigger messages).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ac_adapters.codec import PortalPacket, decode
from ac_adapters.constants import AttrType
from ac_adapters.errors import DecodeError
from ac_adapters.profiles import PROFILES, HeaderForm, VendorProfile

__all__ = ["AcPeer", "BaseListenerHandler", "ListenerHandler", "PeerChoice", "choose_peer"]


@dataclass(frozen=True, slots=True)
class AcPeer:
    """What the listener needs to know about one AC (the portal converts its AcRecord)."""

    name: str
    profile: VendorProfile = field(default_factory=lambda: PROFILES["huawei-v2"])
    secret: bytes = b""
    host: str = ""                      # where heartbeats / user-sync go
    port: int = 2000
    bas_ip: str = ""                    # put in attr 0x0A of our packets when profile.send_bas_ip
    heartbeat: bool = False             # send NTF_HEARTBEAT (0x0F)
    user_sync: bool = False             # send NTF_USER_HEARTBEAT (0x10)
    verify_mac_trigger_auth: bool | None = None   # None = the profile's setting
    sources: tuple[str, ...] = ()       # addresses its datagrams may come from; () = (host,)

    @property
    def header(self) -> HeaderForm:
        return self.profile.header

    @property
    def verifies_mac_trigger(self) -> bool:
        if self.verify_mac_trigger_auth is None:
            return self.profile.verify_mac_trigger_auth
        return self.verify_mac_trigger_auth

    @property
    def accepted_sources(self) -> tuple[str, ...]:
        if self.sources:
            return self.sources
        return (self.host,) if self.host else ()


class ListenerHandler(Protocol):
    """Policy behind the listener. Called from the listener's threads; may raise (counted as
    ``handler_error``; NTF_LOGOUT is answered anyway)."""

    def acs_at(self, source_ip: str) -> Sequence[AcPeer]:
        """Every enabled AC that may send from ``source_ip`` (the listener checks each peer's
        ``accepted_sources`` again, and lets the BAS-IP choose when there are several)."""

    def session_marker(self, ac: AcPeer, packet: PortalPacket) -> str | None:
        """What identifies the login online for ``packet``'s user on ``ac`` now (None = none).
        An NTF_LOGOUT identical to an earlier one is a retransmission only while this is still
        what it was when the first one arrived (or None); otherwise it ends a newer login."""

    def logout_corroborated(self, ac: AcPeer, packet: PortalPacket) -> bool:
        """Asked for a session-ending datagram byte-identical to one already handled for an
        earlier login: True if something other than the datagram says the user is off (their
        accounting session has ended); False = a suspected replay, not acted upon."""

    def on_unconfirmed_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        """A suspected replay was ignored; the handler may end the login once accounting
        confirms (a real EAG kick whose Accounting-Stop is still on its way)."""

    def on_ntf_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        """The AC logged a user off (once per NTF, retransmissions are filtered)."""

    def on_mac_query(self, ac: AcPeer, mac: str, packet: PortalPacket) -> bool:
        """MAC-trigger: True if ``mac`` is bound and its silent login was started (answered
        ErrCode 0 — the AC then waits for our login)."""

    def on_user_logon(self, ac: AcPeer, packet: PortalPacket) -> None: ...

    def on_user_logout(self, ac: AcPeer, packet: PortalPacket) -> None: ...

    def on_user_sync_reply(self, ac: AcPeer, offline_ips: list[str]) -> None:
        """The AC says these IPs of our user-sync list are not online there."""

    def online_user_ips(self, ac: AcPeer) -> list[str] | None:
        """Every user IP we believe online on ``ac``; None = unknown, skip this sync round."""

    def peers_wanting_heartbeat(self) -> list[AcPeer]:
        """ACs with heartbeat or user-sync on; re-read periodically (registry edits apply)."""

    def on_drop(self, ac: AcPeer | None, source_ip: str, reason: str) -> None:
        """A datagram was dropped (``ac`` None when unknown); for per-AC statistics."""


class BaseListenerHandler:
    """Do-nothing defaults; subclass and override what you need."""

    def acs_at(self, source_ip: str) -> Sequence[AcPeer]:
        return ()

    def session_marker(self, ac: AcPeer, packet: PortalPacket) -> str | None:
        return None

    def logout_corroborated(self, ac: AcPeer, packet: PortalPacket) -> bool:
        return False        # nothing to corroborate with: a repeat for an earlier login is ignored

    def on_unconfirmed_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        return None

    def on_ntf_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        return None

    def on_mac_query(self, ac: AcPeer, mac: str, packet: PortalPacket) -> bool:
        return False

    def on_user_logon(self, ac: AcPeer, packet: PortalPacket) -> None:
        return None

    def on_user_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        return None

    def on_user_sync_reply(self, ac: AcPeer, offline_ips: list[str]) -> None:
        return None

    def online_user_ips(self, ac: AcPeer) -> list[str] | None:
        return None

    def peers_wanting_heartbeat(self) -> list[AcPeer]:
        return []

    def on_drop(self, ac: AcPeer | None, source_ip: str, reason: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class PeerChoice:
    """The outcome of :func:`choose_peer`: the AC, or the drop reason and what to log."""

    peer: AcPeer | None
    reason: str = ""
    detail: str = ""


def _bas_ip_in(data: bytes, form: HeaderForm) -> str | None:
    """The BAS-IP attribute of ``data`` decoded in ``form`` (nothing verified yet)."""
    try:
        value = decode(data, header=form).get(AttrType.BAS_IP)
    except DecodeError:
        return None
    return str(ipaddress.IPv4Address(value)) if value is not None and len(value) == 4 else None


def choose_peer(candidates: Sequence[AcPeer], data: bytes, source_ip: str) -> PeerChoice:
    """The AC that sent ``data`` from ``source_ip``, among the handler's ``candidates``.

    Only peers that accept ``source_ip`` count. One left: that AC, whatever BAS-IP the packet
    names (spec §6: an AC's BAS-IP may differ from its registered address). Several (one NAT
    address for many ACs): the one whose BAS-IP the packet names, read in that AC's own header
    form; with no such BAS-IP, the one whose BAS-IP is the source address itself.
    """
    peers = [p for p in candidates if source_ip in p.accepted_sources]
    if not peers:
        return PeerChoice(None, "unknown_ac", f"no AC sends from {source_ip}")
    if len(peers) == 1:
        return PeerChoice(peers[0])
    named_by_form = {form: _bas_ip_in(data, form) for form in {p.header for p in peers}}
    named = [p for p in peers if p.bas_ip and named_by_form[p.header] == p.bas_ip]
    if len(named) == 1:
        return PeerChoice(named[0])
    if not named:
        own = [p for p in peers if p.bas_ip == source_ip]
        if len(own) == 1:
            return PeerChoice(own[0])
    names = ", ".join(sorted(p.name for p in (named or peers)))
    return PeerChoice(None, "ambiguous_ac", f"{len(named or peers)} ACs send from {source_ip} "
                      f"({names}) and the packet's BAS-IP names none of them alone")
