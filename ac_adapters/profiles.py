"""Vendor profiles as data: how one AC family speaks the Portal protocol and builds redirects.

Facts from ``specs/portal-protocol.md`` §2, §3, §7. Adding a vendor is one ``VendorProfile``
entry here plus, at most, a few small functions referenced by name (e.g. a MAC decoder).
Behaviour that only one source confirms is a field, so an integrator can flip it per AC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "AuthMethod",
    "HeaderForm",
    "MacAttr",
    "RedirectParams",
    "VendorProfile",
    "get_profile",
]


class HeaderForm(Enum):
    """§1.1/§1.3: the 16-byte header has no authenticator; the 32-byte one carries it."""

    SHORT = 16
    LONG = 32


class MacAttr(Enum):
    """Where the user MAC travels in portal requests (§1.7, §2)."""

    NONE = 0
    SESSION_ID = 0x0B     # H3C / Huawei / EAG: 6 raw bytes in attr 0x0B
    HANMING = 0xFF        # Hanming ACs: 6 raw bytes in attr 0xFF


class AuthMethod(Enum):
    CHAP = "chap"
    PAP = "pap"


@dataclass(frozen=True, slots=True)
class RedirectParams:
    """Query-parameter names an AC family uses in its redirect to the portal (§3).

    Each field lists accepted names in order of preference; the first one present wins.
    """

    user_ip: tuple[str, ...] = ("wlanuserip", "userip", "user-ipaddress", "ip")
    ac_name: tuple[str, ...] = ("wlanacname", "nasid", "NASID", "sysname")
    ac_ip: tuple[str, ...] = ("wlanacip", "nasip", "ac-ip", "device-ip", "wip", "acip")
    user_mac: tuple[str, ...] = (
        "wlanusermac", "usermac", "user-mac", "client_mac", "mac", "wlanstamac", "sta_mac",
    )
    ap_mac: tuple[str, ...] = ("wlanapmac", "apmac", "ap-mac", "ap_mac")
    ssid: tuple[str, ...] = ("ssid", "wlan", "essid")
    original_url: tuple[str, ...] = (
        "wlanuserfirsturl", "redirect-url", "url", "userurl", "firsturl", "redirect", "rehost",
    )
    # Parameters whose value is DES-ECB(hex) of the MAC "AA-BB-CC-DD-EE-FF" (EAG, §3).
    des_mac: tuple[str, ...] = ("wlanparameter",)


@dataclass(frozen=True, slots=True)
class VendorProfile:
    name: str
    description: str
    version: int                    # Ver byte of the header (§1.3)
    header: HeaderForm
    ntf_logout_reply: int           # 0x0E ACK_NTF_LOGOUT (Huawei/H3C) or 0x06 ACK_LOGOUT (CMCC)
    mac_attr: MacAttr = MacAttr.NONE
    send_bas_ip: bool = False       # add attr 0x0A BAS-IP to our requests
    send_challenge_in_auth: bool = True   # §1.7: attr 0x03 repeated in REQ_AUTH; "send it"
    auth: AuthMethod = AuthMethod.CHAP
    heartbeat: bool = False         # AC expects NTF_HEARTBEAT (0x0F) from us
    user_sync: bool = False         # AC expects NTF_USER_HEARTBEAT (0x10) lists
    mac_trigger: bool = False       # AC sends 0x30 REQ_MACBINDING_INFO
    # §1.2: EAG sends 0x30/0x32/0x34 without an authenticator, even in 32-byte flavours, so the
    # listener verifies them only when this is set (everything else is always verified).
    verify_mac_trigger_auth: bool = False
    # Whether 0x32/0x34 notices are acknowledged (with type+1) is unconfirmed (H3C lists
    # "RESERVED33/35" packets): off = hand them to the handler without a reply.
    ack_mac_trigger_notices: bool = False
    redirect: RedirectParams = field(default_factory=RedirectParams)

    @property
    def has_authenticator(self) -> bool:
        return self.header is HeaderForm.LONG


_PROFILE_LIST = (
    VendorProfile(
        name="huawei-v2",
        description="Huawei AC/AirEngine/S-switch, Portal v2 (32-byte header, default)",
        version=2, header=HeaderForm.LONG, ntf_logout_reply=0x0E,
        mac_attr=MacAttr.SESSION_ID, send_bas_ip=True,
    ),
    VendorProfile(
        name="huawei-v1",
        description="Huawei in Portal v1 mode (16-byte header, no authenticator)",
        version=1, header=HeaderForm.SHORT, ntf_logout_reply=0x0E,
        mac_attr=MacAttr.SESSION_ID,
    ),
    VendorProfile(
        name="h3c",
        description="H3C/HPE Comware Portal 2.0 (32-byte header, MAC-trigger, user-sync)",
        version=2, header=HeaderForm.LONG, ntf_logout_reply=0x0E,
        mac_attr=MacAttr.SESSION_ID, send_bas_ip=True, heartbeat=True, mac_trigger=True,
    ),
    VendorProfile(
        name="cmcc",
        description="China Mobile WLAN Portal spec (16-byte header, Ver 1, ACK_LOGOUT to NTF)",
        version=1, header=HeaderForm.SHORT, ntf_logout_reply=0x06,
    ),
    VendorProfile(
        name="ruijie",
        description="Ruijie RG-WS in CMCC mode (16-byte header, Ver 1)",
        version=1, header=HeaderForm.SHORT, ntf_logout_reply=0x06,
    ),
    VendorProfile(
        name="hanming",
        description="Hanming ACs (16-byte header, user MAC in attr 0xFF)",
        version=1, header=HeaderForm.SHORT, ntf_logout_reply=0x06,
        mac_attr=MacAttr.HANMING,
    ),
    VendorProfile(
        name="autelan",
        description="Autelan EAG in TELECOM mode (32-byte header, MAC-trigger, ACK_LOGOUT to NTF)",
        version=2, header=HeaderForm.LONG, ntf_logout_reply=0x06,
        mac_attr=MacAttr.SESSION_ID, send_bas_ip=True, mac_trigger=True,
    ),
)

PROFILES: dict[str, VendorProfile] = {p.name: p for p in _PROFILE_LIST}
DEFAULT_PROFILE = "huawei-v2"


def get_profile(name: str) -> VendorProfile:
    """The profile called ``name``; KeyError names the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown vendor profile {name!r}; known: {', '.join(PROFILES)}") from None
