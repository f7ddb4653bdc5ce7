"""Vendor profiles as data: how one AC family speaks the Portal protocol and builds redirects.

Facts from ``docs/protocols/portal-protocol.md`` §2, §3, §7. Adding a vendor is one ``VendorProfile``
entry here plus, at most, a few small functions referenced by name (e.g. a MAC decoder).
Behaviour that only one source confirms is a field, so an integrator can flip it per AC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ac_adapters.radius_dialects import DIALECTS

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "AuthMethod",
    "HeaderForm",
    "MacAttr",
    "MacEncoding",
    "RedirectField",
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


class MacEncoding(Enum):
    """How an AC writes a MAC into a redirect parameter (§3). Parsing accepts every plain form
    whatever the profile says ("separators and case vary — normalise"); the encoding matters for
    building URLs (simulator) and for telling DES ciphertext from a plain MAC."""

    COLON_LOWER = "aa:bb:cc:dd:ee:ff"     # EAG ap_mac / client_mac
    COLON_UPPER = "AA:BB:CC:DD:EE:FF"     # EAG usermac
    DASH_LOWER = "aa-bb-cc-dd-ee-ff"
    DASH_UPPER = "AA-BB-CC-DD-EE-FF"
    BARE_LOWER = "aabbccddeeff"
    BARE_UPPER = "AABBCCDDEEFF"           # EAG wlanapmac
    DASH4_LOWER = "aabb-ccdd-eeff"        # Huawei-style grouping (configurable on the AC)
    DOT4_LOWER = "aabb.ccdd.eeff"         # Comware-style grouping
    # EAG wlanparameter / wlanusermac: lower-hex DES-ECB (8-char key per AC, PKCS#5 padding)
    # over "AA-BB-CC-DD-EE-FF" → 24 bytes → 48 hex chars.
    DES_ECB_HEX = "des-ecb-hex"


@dataclass(frozen=True, slots=True)
class RedirectField:
    """One parameter an AC puts in its redirect: which value (``kind``), under which name, and
    for MACs in which encoding. ``kind`` is one of user_ip, ac_name, ac_ip, user_mac, ap_mac,
    ssid, original_url, vlan, ap_group, ap_location, ap_name."""

    kind: str
    name: str
    mac_encoding: MacEncoding | None = None


# What a CMCC-spec AC sends (EAG "MOBILE", Ruijie cmcc formats, many Chinese ACs; §3).
_CMCC_EMIT = (
    RedirectField("user_ip", "wlanuserip"),
    RedirectField("ac_name", "wlanacname"),
    RedirectField("ac_ip", "wlanacip"),
    RedirectField("ssid", "ssid"),
    RedirectField("user_mac", "wlanusermac", MacEncoding.DASH_UPPER),
    RedirectField("ap_mac", "wlanapmac", MacEncoding.BARE_UPPER),
    RedirectField("original_url", "wlanuserfirsturl"),
)


@dataclass(frozen=True, slots=True)
class RedirectParams:
    """Query-parameter names an AC family uses in its redirect to the portal (§3).

    Each field lists accepted names in order of preference; the first one present wins (the
    parser falls back to the names of every profile, so a mis-set profile still works).
    Names are matched case-insensitively. ``emit`` is what such an AC sends, in order
    (``ac_adapters.redirect.build_redirect_url``; the simulator keeps its own table in
    ``ac_adapters/simulator/sim_redirect.py``).
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
    vlan: tuple[str, ...] = ("vlan", "user-vlan", "vid")
    # Where the AP is, by the AC's own grouping: Huawei's url-parameter kinds ap-group-name,
    # ap-location and ap-name (§3; the kind names are the default keys). No other family
    # documents such a field; a venue can be matched by AP group (portal/venues/venue_store.py).
    ap_group: tuple[str, ...] = ("ap-group-name",)
    ap_location: tuple[str, ...] = ("ap-location",)
    ap_name: tuple[str, ...] = ("ap-name",)
    emit: tuple[RedirectField, ...] = _CMCC_EMIT


# Huawei: url-parameter kinds with admin-chosen keys (§3); defaults here use the kind names
# (doc example ``ac-ip=…&user-ipaddress=…&user-mac=…&redirect-url=…``), CMCC names as fallback.
HUAWEI_REDIRECT = RedirectParams(
    user_ip=("user-ipaddress", "wlanuserip", "userip", "ip"),
    ac_name=("sysname", "wlanacname", "nasid"),
    ac_ip=("ac-ip", "device-ip", "wlanacip", "nasip"),
    user_mac=("user-mac", "wlanusermac", "usermac", "mac"),
    ap_mac=("ap-mac", "wlanapmac", "apmac"),
    original_url=("redirect-url", "wlanuserfirsturl", "url"),
    vlan=("user-vlan", "vlan"),
    emit=(
        RedirectField("ac_ip", "ac-ip"),
        RedirectField("user_ip", "user-ipaddress"),
        RedirectField("user_mac", "user-mac", MacEncoding.DASH4_LOWER),
        RedirectField("ssid", "ssid"),
        RedirectField("ap_mac", "ap-mac", MacEncoding.DASH4_LOWER),
        RedirectField("ac_name", "sysname"),
        RedirectField("original_url", "redirect-url"),
        RedirectField("ap_group", "ap-group-name"),
        RedirectField("ap_location", "ap-location"),
        RedirectField("ap_name", "ap-name"),
    ),
)

# H3C Comware 7: ``url-parameter NAME`` over source-address, source-mac, original-url, ssid,
# ap-mac, nas-id …; the doc example names are ``userip`` / ``userurl`` (§3).
H3C_REDIRECT = RedirectParams(
    user_ip=("userip", "wlanuserip", "source-address"),
    ac_name=("nasid", "nas-id", "wlanacname"),
    ac_ip=("nasip", "acip", "wlanacip"),
    user_mac=("usermac", "source-mac", "wlanusermac", "mac"),
    ap_mac=("apmac", "ap-mac", "wlanapmac"),
    original_url=("userurl", "original-url", "wlanuserfirsturl", "url"),
    emit=(
        RedirectField("user_ip", "userip"),
        RedirectField("user_mac", "usermac", MacEncoding.DASH_LOWER),
        RedirectField("ssid", "ssid"),
        RedirectField("ap_mac", "apmac", MacEncoding.DASH_LOWER),
        RedirectField("ac_name", "nasid"),
        RedirectField("ac_ip", "nasip"),
        RedirectField("original_url", "userurl"),
    ),
)

# Ruijie: cmcc-normal / cmcc-ext1 or custom keys (userip, usermac, nasip, ssid, url/firsturl);
# ePortal "wireless-v2" adds mac, apmac, nasid, vid. (Its hex-ciphertext variant is unconfirmed
# and not decoded here.)
RUIJIE_REDIRECT = RedirectParams(
    user_ip=("wlanuserip", "userip"),
    ac_name=("wlanacname", "nasid"),
    ac_ip=("nasip", "wlanacip"),
    user_mac=("usermac", "mac", "wlanusermac"),
    ap_mac=("apmac", "wlanapmac"),
    original_url=("url", "firsturl", "wlanuserfirsturl"),
    vlan=("vid", "vlan"),
    emit=(
        RedirectField("user_ip", "wlanuserip"),
        RedirectField("ac_name", "wlanacname"),
        RedirectField("ssid", "ssid"),
        RedirectField("ac_ip", "nasip"),
        RedirectField("user_mac", "mac", MacEncoding.DASH_LOWER),
        RedirectField("original_url", "url"),
        RedirectField("ap_mac", "apmac", MacEncoding.DASH_LOWER),
        RedirectField("vlan", "vid"),
    ),
)

# Hanming: user MAC in ``wlanstamac`` (TWL, BDG).
HANMING_REDIRECT = RedirectParams(
    user_mac=("wlanstamac", "wlanusermac", "usermac", "mac"),
    emit=(
        RedirectField("user_ip", "wlanuserip"),
        RedirectField("ac_name", "wlanacname"),
        RedirectField("ac_ip", "wlanacip"),
        RedirectField("ssid", "ssid"),
        RedirectField("user_mac", "wlanstamac", MacEncoding.COLON_UPPER),
        RedirectField("original_url", "wlanuserfirsturl"),
    ),
)

# Sangfor (BDG): ``ssid`` may come twice, plus ``vlan``, ``mac``/``wlanstamac``, ``apmac``.
SANGFOR_REDIRECT = RedirectParams(
    ac_ip=("nasip", "wlanacip", "wip"),
    user_mac=("mac", "wlanstamac", "usermac", "wlanusermac"),
    ap_mac=("apmac", "wlanapmac"),
    emit=(
        RedirectField("user_ip", "wlanuserip"),
        RedirectField("ac_name", "wlanacname"),
        RedirectField("ac_ip", "nasip"),
        RedirectField("ssid", "ssid"),
        RedirectField("vlan", "vlan"),
        RedirectField("user_mac", "mac", MacEncoding.COLON_LOWER),
        RedirectField("ap_mac", "apmac", MacEncoding.COLON_LOWER),
        RedirectField("ssid", "ssid"),                   # the duplicated ssid quirk
        RedirectField("original_url", "url"),
    ),
)

# Autelan EAG (§3): wlanapmac 12 upper hex; usermac AA:BB…; ap_mac/client_mac lower colon;
# wlanparameter and wlanusermac DES-ECB hex of "AA-BB-CC-DD-EE-FF". Plain names come first so a
# MAC is recovered even without the AC's DES key.
AUTELAN_REDIRECT = RedirectParams(
    user_mac=("usermac", "client_mac", "wlanusermac", "wlanparameter"),
    ap_mac=("wlanapmac", "ap_mac", "apmac"),
    des_mac=("wlanparameter", "wlanusermac"),
    emit=(
        RedirectField("user_ip", "wlanuserip"),
        RedirectField("ac_name", "wlanacname"),
        RedirectField("ac_ip", "wlanacip"),
        RedirectField("ssid", "ssid"),
        RedirectField("user_mac", "wlanusermac", MacEncoding.DES_ECB_HEX),
        RedirectField("ap_mac", "wlanapmac", MacEncoding.BARE_UPPER),
        RedirectField("user_mac", "wlanparameter", MacEncoding.DES_ECB_HEX),
        RedirectField("original_url", "wlanuserfirsturl"),
        RedirectField("user_mac", "usermac", MacEncoding.COLON_UPPER),
        RedirectField("ap_mac", "ap_mac", MacEncoding.COLON_LOWER),
        RedirectField("user_mac", "client_mac", MacEncoding.COLON_LOWER),
    ),
)


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
    # §1.2: in a 32-byte flavour every packet carries an authenticator and the listener checks
    # it. EAG alone is known to send 0x30/0x32/0x34 unsigned: its profiles turn this off, and
    # only the source address vouches for those messages.
    verify_mac_trigger_auth: bool = True
    # Whether 0x32/0x34 notices are acknowledged (with type+1) is unconfirmed (H3C lists
    # "RESERVED33/35" packets): off = hand them to the handler without a reply.
    ack_mac_trigger_notices: bool = False
    redirect: RedirectParams = field(default_factory=RedirectParams)
    # The RADIUS reply dialect such ACs speak (``ac_adapters.radius_dialects``): the one place
    # the vendor → dialect choice is made; an AC's ``radius_dialect`` may override it.
    radius_dialect: str = "wispr"

    def __post_init__(self) -> None:
        if self.radius_dialect not in DIALECTS:
            raise ValueError(f"profile {self.name}: unknown RADIUS dialect {self.radius_dialect!r}")

    @property
    def has_authenticator(self) -> bool:
        return self.header is HeaderForm.LONG


_PROFILE_LIST = (
    VendorProfile(
        name="huawei-v2",
        description="Huawei AC/AirEngine/S-switch, Portal v2 (32-byte header, default)",
        version=2, header=HeaderForm.LONG, ntf_logout_reply=0x0E,
        mac_attr=MacAttr.SESSION_ID, send_bas_ip=True, redirect=HUAWEI_REDIRECT,
        radius_dialect="huawei",
    ),
    VendorProfile(
        name="huawei-v1",
        description="Huawei in Portal v1 mode (16-byte header, no authenticator)",
        version=1, header=HeaderForm.SHORT, ntf_logout_reply=0x0E,
        mac_attr=MacAttr.SESSION_ID, redirect=HUAWEI_REDIRECT, radius_dialect="huawei",
    ),
    VendorProfile(
        name="h3c",
        description="H3C/HPE Comware Portal 2.0 (32-byte header, MAC-trigger, user-sync)",
        version=2, header=HeaderForm.LONG, ntf_logout_reply=0x0E,
        mac_attr=MacAttr.SESSION_ID, send_bas_ip=True, heartbeat=True, mac_trigger=True,
        redirect=H3C_REDIRECT, radius_dialect="h3c",
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
        redirect=RUIJIE_REDIRECT, radius_dialect="ruijie",
    ),
    VendorProfile(
        name="hanming",
        description="Hanming ACs (16-byte header, user MAC in attr 0xFF)",
        version=1, header=HeaderForm.SHORT, ntf_logout_reply=0x06,
        mac_attr=MacAttr.HANMING, redirect=HANMING_REDIRECT,
    ),
    VendorProfile(
        name="autelan",
        description="Autelan EAG in TELECOM mode (32-byte header, MAC-trigger, ACK_LOGOUT to NTF)",
        version=2, header=HeaderForm.LONG, ntf_logout_reply=0x06,
        mac_attr=MacAttr.SESSION_ID, send_bas_ip=True, mac_trigger=True,
        verify_mac_trigger_auth=False, redirect=AUTELAN_REDIRECT,
    ),
    VendorProfile(
        name="autelan-mobile",
        description="Autelan EAG in MOBILE (CMCC) mode (16-byte header, Ver 1, MAC-trigger)",
        version=1, header=HeaderForm.SHORT, ntf_logout_reply=0x06,
        mac_attr=MacAttr.SESSION_ID, mac_trigger=True, verify_mac_trigger_auth=False,
        redirect=AUTELAN_REDIRECT,
    ),
    VendorProfile(
        name="sangfor",
        description="Sangfor AC (16-byte header, Ver 1; NTF reply unconfirmed, CMCC 0x06 assumed)",
        version=1, header=HeaderForm.SHORT, ntf_logout_reply=0x06,
        redirect=SANGFOR_REDIRECT,
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
