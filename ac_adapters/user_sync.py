"""NTF_USER_HEARTBEAT (0x10) packets: the portal's list of users it believes online on an AC
(spec §1.9), split to the attribute and packet sizes ACs accept."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from ac_adapters.codec import Attribute, PortalPacket, ip_attr
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.listener_peers import AcPeer

__all__ = ["IPS_PER_USER_LIST", "bas_ip_attrs", "user_sync_packets"]

IPS_PER_USER_LIST = 63          # §1.7 attr 0x0D: ≤ 63 IPv4s (252 bytes) per attribute


def user_sync_packets(
    peer: AcPeer, ips: Iterable[str], serials: Callable[[], int], *, max_packet: int = 1024
) -> list[PortalPacket]:
    """NTF_USER_HEARTBEAT packets listing ``ips`` (§1.9): ≤ 63 IPs per 0x0D attribute, as many
    attributes per packet as fit in ``max_packet`` bytes (EAG caps packets at 1024), as many
    packets as needed. An empty list still yields one packet: "nobody is online" is news too."""
    packed = [ipaddress.IPv4Address(ip).packed for ip in ips]
    fixed = peer.header.value + (6 if peer.profile.send_bas_ip and peer.bas_ip else 0)
    per_packet = max(1, (max_packet - fixed) // (2 + 4 * IPS_PER_USER_LIST))
    lists = [
        Attribute(AttrType.USER_LIST, b"".join(packed[i:i + IPS_PER_USER_LIST]))
        for i in range(0, len(packed), IPS_PER_USER_LIST)
    ]
    groups = [lists[i:i + per_packet] for i in range(0, len(lists), per_packet)] or [[]]
    return [
        PortalPacket(
            type=PacketType.NTF_USER_HEARTBEAT, version=peer.profile.version,
            serial_no=serials(), attrs=(*bas_ip_attrs(peer), *group),
        )
        for group in groups
    ]


def bas_ip_attrs(peer: AcPeer) -> tuple[Attribute, ...]:
    if peer.profile.send_bas_ip and peer.bas_ip:
        return (ip_attr(AttrType.BAS_IP, peer.bas_ip),)
    return ()
