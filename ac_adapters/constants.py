"""Wire constants of the carrier Portal protocol (``docs/protocols/portal-protocol.md`` §1)."""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "MAX_PACKET",
    "RESPONSE_TYPES",
    "AckAuthErr",
    "AckChallengeErr",
    "AckInfoErr",
    "AckLogoutErr",
    "AttrType",
    "MacBindingErr",
    "PacketType",
    "ReqLogoutErr",
    "err_text",
]

# EAG caps a packet at 1024 bytes (§1.1). We accept up to 4096 so that long H3C user-sync lists
# (attr 0x0D, 63 IPs per attribute) still decode; anything larger is hostile.
MAX_PACKET = 4096


class PacketType(IntEnum):
    """Header byte 1 (§1.4). Direction: P = portal server, AC = access controller."""

    REQ_CHALLENGE = 0x01          # P→AC start CHAP
    ACK_CHALLENGE = 0x02          # AC→P ReqID + Challenge
    REQ_AUTH = 0x03               # P→AC credentials
    ACK_AUTH = 0x04               # AC→P result after RADIUS
    REQ_LOGOUT = 0x05             # P→AC; ErrCode 1 = timeout notice (§1.4)
    ACK_LOGOUT = 0x06             # AC→P; also the CMCC reply to NTF_LOGOUT (§2)
    AFF_ACK_AUTH = 0x07           # P→AC confirms ACK_AUTH, no reply
    NTF_LOGOUT = 0x08             # AC→P forced offline
    REQ_INFO = 0x09               # P→AC query port/flux
    ACK_INFO = 0x0A               # AC→P
    NTF_USERDISCOVER = 0x0B       # P→AC
    NTF_USERIPCHANGE = 0x0C       # AC→P re-DHCP IP change
    AFF_NTF_USERIPCHANGE = 0x0D   # P→AC
    ACK_NTF_LOGOUT = 0x0E         # P→AC Huawei/H3C reply to NTF_LOGOUT (§2)
    NTF_HEARTBEAT = 0x0F          # P→AC portal-server heartbeat, no reply (H3C)
    NTF_USER_HEARTBEAT = 0x10     # P→AC user-sync list (H3C) = USER_SYN (Huawei)
    ACK_NTF_USER_HEARTBEAT = 0x11 # AC→P users in the list that are not online
    NTF_CHALLENGE = 0x12          # AC→P EAP-TLS only (unconfirmed)
    NTF_USER_NOTIFY = 0x13        # AC→P relays hw_User_Notify (unconfirmed)
    AFF_NTF_USER_NOTIFY = 0x14    # P→AC (unconfirmed)
    REQ_MACBINDING_INFO = 0x30    # AC→MAC server "is this MAC bound?" (MAC-trigger)
    ACK_MACBINDING_INFO = 0x31    # server→AC ErrCode 0 bound / 1 not bound
    NTF_USER_LOGON = 0x32         # AC→server user came online
    ACK_USER_LOGON = 0x33         # server→AC, H3C "RESERVED33" (unconfirmed; profile option)
    NTF_USER_LOGOUT = 0x34        # AC→server user went offline, with stats
    ACK_USER_LOGOUT = 0x35        # server→AC, H3C "RESERVED35" (unconfirmed; profile option)
    REQ_USER_OFFLINE = 0x36       # server→AC kick by MAC (EAG, unconfirmed)
    STATUS_NOTIFY = 0x81          # P→AC Huawei status / keep-alive
    ACK_STATUS_NOTIFY = 0x82      # AC→P


# §1.2: these are signed with the authenticator of the request they answer; everything else
# is signed with 16 zero bytes in that position. 0x11/0x31/0x33/0x35/0x82 follow the same reply rule
# (their request/reply pairing is confirmed; the signing of them is by analogy).
RESPONSE_TYPES = frozenset({
    PacketType.ACK_CHALLENGE,
    PacketType.ACK_AUTH,
    PacketType.ACK_LOGOUT,
    PacketType.ACK_INFO,
    PacketType.ACK_NTF_LOGOUT,
    PacketType.ACK_NTF_USER_HEARTBEAT,
    PacketType.ACK_MACBINDING_INFO,
    PacketType.ACK_USER_LOGON,
    PacketType.ACK_USER_LOGOUT,
    PacketType.ACK_STATUS_NOTIFY,
})


class AttrType(IntEnum):
    """Attribute types (§1.7). Unknown codes still decode; they keep their number."""

    USER_NAME = 0x01
    PASSWORD = 0x02
    CHALLENGE = 0x03
    CHAP_PASSWORD = 0x04
    TEXT_INFO = 0x05          # failure reason / Reply-Message; CMCC: ErrID (AC101 …)
    UP_LINK_FLUX = 0x06       # uint64 kbytes in ACK_INFO, empty in REQ_INFO
    DOWN_LINK_FLUX = 0x07
    PORT = 0x08
    IP_CONFIG = 0x09
    BAS_IP = 0x0A
    USER_MAC = 0x0B           # "Session-ID": 6 raw MAC bytes (H3C/Huawei/EAG)
    DELAY_TIME = 0x0C
    USER_LIST = 0x0D          # n × 4-byte IPv4 (user-sync)
    EAP_MESSAGE = 0x0E
    USER_NOTIFY = 0x0F
    NAS_ID = 0x30             # EAG MAC-trigger messages (unconfirmed)
    SESSION_START = 0x31
    SESSION_STOP = 0x32
    SESSION_TIME = 0x33
    USER_AGENT = 0x34
    INPUT_OCTETS = 0x35
    OUTPUT_OCTETS = 0x36
    INPUT_PACKETS = 0x37
    OUTPUT_PACKETS = 0x38
    INPUT_GIGAWORDS = 0x39
    OUTPUT_GIGAWORDS = 0x3A
    SSID = 0x3B               # H3C MAC-trigger (BDG); EAG may use it as session id
    BAS_IPV6 = 0x64
    USER_IPV6_LIST = 0x65
    CHAP_ID = 0xF0            # Huawei "Portal 9.0" (unconfirmed)
    USER_IPV6 = 0xF1
    HANMING_MAC = 0xFF        # Hanming ACs: 6 raw MAC bytes


class AckChallengeErr(IntEnum):
    OK = 0
    REJECTED = 1
    ALREADY_ONLINE = 2        # treated as success (§1.5)
    IN_PROGRESS = 3
    FAILED = 4


class AckAuthErr(IntEnum):
    OK = 0
    REJECTED = 1
    ALREADY_ONLINE = 2        # treated as success (§1.5)
    IN_PROGRESS = 3
    FAILED = 4


class ReqLogoutErr(IntEnum):
    LOGOUT = 0
    TIMEOUT_NOTICE = 1        # abort the pending CHALLENGE/AUTH (§1.4, §1.6)


class AckLogoutErr(IntEnum):
    OK = 0
    REJECTED = 1
    FAILED = 2
    ALREADY_OFFLINE = 3


class AckInfoErr(IntEnum):
    OK = 0
    NOT_SUPPORTED = 1
    FAILED = 2


class MacBindingErr(IntEnum):
    BOUND = 0
    NOT_BOUND = 1


_ERR_TEXT: dict[int, dict[int, str]] = {
    PacketType.ACK_CHALLENGE: {
        0: "challenge granted",
        1: "challenge rejected (bad packet, user unknown to the AC, or no DHCP lease)",
        2: "user already online",
        3: "another authentication for this user is in progress",
        4: "AC internal error",
    },
    PacketType.ACK_AUTH: {
        0: "authentication succeeded",
        1: "authentication rejected (RADIUS Access-Reject, wrong ReqID or bad attributes)",
        2: "user already online",
        3: "authentication in progress, retry later",
        4: "authentication failed (AC error or RADIUS timeout)",
    },
    PacketType.ACK_LOGOUT: {
        0: "logged out",
        1: "logout rejected",
        2: "logout failed",
        3: "user already offline",
    },
    PacketType.ACK_INFO: {0: "ok", 1: "not supported", 2: "failed"},
    PacketType.ACK_MACBINDING_INFO: {0: "MAC bound", 1: "MAC not bound"},
    PacketType.REQ_LOGOUT: {0: "logout", 1: "timeout notice"},
}


def err_text(packet_type: int, err_code: int) -> str:
    """Human meaning of an ErrCode in a given packet type (§1.5), for diagnostics."""
    return _ERR_TEXT.get(packet_type, {}).get(err_code, f"error code {err_code}")
