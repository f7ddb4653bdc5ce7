"""The vocabulary of the Portal-side exchanges (:mod:`ac_adapters.exchange`): the AC endpoint
they talk to, their results, the actions they hand the transport (``Send``, ``Wait``,
``Finish``), and the states and events their tables are written in. Pure values, no behaviour
beyond validation.

Re-exported by :mod:`ac_adapters.exchange`; import them from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from ac_adapters.codec import PortalPacket
from ac_adapters.constants import PacketType
from ac_adapters.profiles import DEFAULT_PROFILE, PROFILES, VendorProfile

__all__ = [
    "EVENT_OF_TYPE",
    "AcEndpoint",
    "Action",
    "Event",
    "Finish",
    "InfoResult",
    "LoginResult",
    "LogoutResult",
    "Outcome",
    "Result",
    "Send",
    "State",
    "Wait",
]


@dataclass(frozen=True, slots=True)
class AcEndpoint:
    """What the library needs to talk to one AC (the portal converts its AcRecord into this)."""

    host: str
    port: int = 2000
    profile: VendorProfile = PROFILES[DEFAULT_PROFILE]
    secret: bytes = b""
    bas_ip: str = ""            # put in attr 0x0A when profile.send_bas_ip
    timeout: float = 3.0        # seconds per try (§1.9: 3 s × 3 is typical)
    retries: int = 3            # tries in total

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0, not {self.timeout}")
        if self.retries < 1:
            raise ValueError(f"retries (tries in total) must be >= 1, not {self.retries}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} out of range")

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


# --- results ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LoginResult:
    ok: bool                    # True on ErrCode 0 or 2 (already online)
    err_code: int | None        # ACK_AUTH / ACK_CHALLENGE ErrCode, None on timeout
    text: str                   # TextInfo attrs (RADIUS Reply-Message) or our short diagnostic
    req_id: int
    stage: str                  # where it ended: "challenge" | "auth" | "done" (success)
    already_online: bool
    timed_out: bool
    timings: dict[str, float]   # seconds: challenge, auth, total
    diagnostic: str             # integrator-facing English explanation
    message_zh: str = ""        # short user-facing text (phone screen)
    message_en: str = ""


@dataclass(frozen=True, slots=True)
class LogoutResult:
    ok: bool                    # True on ACK_LOGOUT ErrCode 0 or 3 (already offline)
    err_code: int | None
    text: str
    timed_out: bool
    timings: dict[str, float]
    diagnostic: str
    already_offline: bool = False


@dataclass(frozen=True, slots=True)
class InfoResult:
    ok: bool
    err_code: int | None
    text: str
    timed_out: bool
    timings: dict[str, float]
    diagnostic: str
    port: str | None = None           # attr 0x08, vendor string (§1.7)
    up_kbytes: int | None = None      # attr 0x06, uint64 BE
    down_kbytes: int | None = None    # attr 0x07


Result = LoginResult | LogoutResult | InfoResult


# --- actions and the table vocabulary ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Send:
    packet: PortalPacket
    retransmission: bool = False


@dataclass(frozen=True, slots=True)
class Wait:
    reply_type: PacketType
    serial_no: int
    user_ip: str
    deadline: float


@dataclass(frozen=True, slots=True)
class Finish:
    result: Result


Action = Send | Wait | Finish


class State(Enum):
    IDLE = "idle"
    CHALLENGING = "challenging"          # REQ_CHALLENGE sent, waiting for ACK_CHALLENGE
    AUTHENTICATING = "authenticating"    # REQ_AUTH sent, waiting for ACK_AUTH
    LOGGING_OUT = "logging_out"          # REQ_LOGOUT sent, waiting for ACK_LOGOUT
    QUERYING = "querying"                # REQ_INFO sent, waiting for ACK_INFO
    DONE = "done"


class Event(Enum):
    START = "start"
    ACK_CHALLENGE = "ack_challenge"
    ACK_AUTH = "ack_auth"
    ACK_LOGOUT = "ack_logout"
    ACK_INFO = "ack_info"
    TIMEOUT = "timeout"


EVENT_OF_TYPE: Mapping[int, Event] = {
    PacketType.ACK_CHALLENGE: Event.ACK_CHALLENGE,
    PacketType.ACK_AUTH: Event.ACK_AUTH,
    PacketType.ACK_LOGOUT: Event.ACK_LOGOUT,
    PacketType.ACK_INFO: Event.ACK_INFO,
}

Outcome = tuple[State, list[Action]]
