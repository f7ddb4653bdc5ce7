"""A scriptable, fault-injecting fake AC on a real UDP socket, for portal-client tests.

Behaves like the AC side of EAG (``docs/protocols/portal-protocol.md`` §1.2, §1.5, §1.6):

* requests whose authenticator does not verify (32-byte form) are dropped silently;
* ReqIDs are allocated per challenged user, never 0, unique among pending users; a repeated
  REQ_CHALLENGE for a user already challenged gets the same ReqID and challenge back;
* REQ_AUTH must carry the challenged ReqID (else ErrCode 1) and a CHAP digest that matches the
  local user table (else ErrCode 1 with TextInfo); PAP passwords are checked likewise and the
  ACK_AUTH assigns a ReqID (XNL's mock) unless ``pap_echo_req_id``;
* a REQ_LOGOUT ErrCode 1 (timeout notice) drops the pending challenge, no reply;
* an exact duplicate of a request (a retransmission) gets the cached reply again;
* it answers from a socket of its own choosing (another port than the one it listens on).

Faults (set ``ac.faults`` fields, any time): ``drop_replies`` (drop the next N replies),
``drop_replies_of`` (``{reply type: N}``),
``silent``, ``ignore_types``, ``wrong_authenticator`` (sign replies with another secret), ``challenge_err`` /
``auth_err`` (``(ErrCode, TextInfo)``), ``wrong_header_form`` (answer in the other header form).
Everything received is kept in ``ac.received`` for assertions (``wait_for`` polls it).
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ac_adapters.codec import Attribute, PortalPacket, decode, encode
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.errors import BadAuthenticator, DecodeError
from ac_adapters.profiles import PROFILES, HeaderForm, VendorProfile

__all__ = ["FakeAcFaults", "FakePortalAc", "Received", "fake_ac"]


@dataclass
class FakeAcFaults:
    drop_replies: int = 0
    drop_replies_of: dict[int, int] = field(default_factory=dict)   # reply type → how many to drop
    silent: bool = False
    ignore_types: frozenset[int] = frozenset()    # recorded but never answered (e.g. REQ_AUTH)
    wrong_authenticator: bool = False
    wrong_header_form: bool = False
    challenge_err: tuple[int, str] | None = None
    auth_err: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class Received:
    packet: PortalPacket
    source: tuple[str, int]
    raw: bytes
    at: float


@dataclass
class _Session:
    req_id: int
    challenge: bytes
    serial_no: int


@dataclass
class FakePortalAc:
    profile: VendorProfile = field(default_factory=lambda: PROFILES["huawei-v2"])
    secret: bytes = b"testing123"
    users: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    reply_from_other_port: bool = True
    pap_echo_req_id: bool = False
    faults: FakeAcFaults = field(default_factory=FakeAcFaults)

    def __post_init__(self) -> None:
        self.received: list[Received] = []
        self.online: dict[str, str] = {}            # user IP → username
        self.stats: Counter[str] = Counter()
        self._sessions: dict[str, _Session] = {}    # user IP → challenged session
        self._cache: dict[bytes, bytes] = {}        # request bytes → reply bytes (retransmissions)
        self._next_req_id = int.from_bytes(os.urandom(2), "big") % 4000 + 1
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((self.host, 0))
        self._reply_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._reply_sock.bind((self.host, 0))
        self._thread = threading.Thread(target=self._loop, name="fake-ac", daemon=True)

    # control ---------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def reply_port(self) -> int:
        return int((self._reply_sock if self.reply_from_other_port else self._sock).getsockname()[1])

    def start(self) -> FakePortalAc:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        self._reply_sock.close()

    def __enter__(self) -> FakePortalAc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def of_type(self, ptype: int) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.packet.type == ptype]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.received)):
                    return True
            time.sleep(0.01)
        return False

    # the AC ----------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._sock], [], [], 0.1)
            if not ready:
                continue
            try:
                data, source = self._sock.recvfrom(65535)
            except OSError:
                continue
            self._handle(data, source)

    def _handle(self, data: bytes, source: tuple[str, int]) -> None:
        header = self.profile.header
        try:
            packet = decode(data, header=header, secret=self.secret if header is HeaderForm.LONG else None)
        except BadAuthenticator:
            self.stats["dropped_bad_auth"] += 1          # EAG: silently (§1.2)
            return
        except DecodeError:
            self.stats["dropped_malformed"] += 1
            return
        with self._lock:
            self.received.append(Received(packet, source, data, time.monotonic()))
            if self.faults.silent or packet.type in self.faults.ignore_types:
                self.stats["silent"] += 1
                return
            reply = self._cache.get(data)
            if reply is None:
                answer = self._answer(packet)
                if answer is None:
                    return
                reply = self._encode_reply(answer, packet)
                if packet.type != PacketType.REQ_LOGOUT:
                    self._cache[data] = reply
            else:
                self.stats["duplicates"] += 1
            if self.faults.drop_replies > 0:
                self.faults.drop_replies -= 1
                self.stats["dropped_replies"] += 1
                return
            if self.faults.drop_replies_of.get(reply[1], 0) > 0:
                self.faults.drop_replies_of[reply[1]] -= 1
                self.stats["dropped_replies"] += 1
                return
        sock = self._reply_sock if self.reply_from_other_port else self._sock
        sock.sendto(reply, source)
        self.stats["replies"] += 1

    def _encode_reply(self, answer: PortalPacket, request: PortalPacket) -> bytes:
        header = self.profile.header
        if self.faults.wrong_header_form:
            header = HeaderForm.SHORT if header is HeaderForm.LONG else HeaderForm.LONG
        secret = b"not-the-secret" if self.faults.wrong_authenticator else self.secret
        req_auth = request.authenticator if request.authenticator is not None else bytes(16)
        return encode(answer, header=header, secret=secret, request_authenticator=req_auth)

    def _reply(self, request: PortalPacket, ptype: PacketType, *, err: int = 0, req_id: int | None = None,
               attrs: tuple[Attribute, ...] = ()) -> PortalPacket:
        return PortalPacket(
            type=ptype, version=self.profile.version, pap_chap=request.pap_chap,
            serial_no=request.serial_no, req_id=request.req_id if req_id is None else req_id,
            user_ip=request.user_ip, err_code=err, attrs=attrs)

    def _allocate_req_id(self) -> int:
        in_use = {s.req_id for s in self._sessions.values()}
        while True:
            candidate = self._next_req_id
            self._next_req_id = candidate % 0xFFFF + 1      # never 0
            if candidate not in in_use:
                return candidate

    def _answer(self, p: PortalPacket) -> PortalPacket | None:
        handler = {
            PacketType.REQ_CHALLENGE: self._on_challenge, PacketType.REQ_AUTH: self._on_auth,
            PacketType.REQ_LOGOUT: self._on_logout, PacketType.REQ_INFO: self._on_info,
        }.get(PacketType(p.type))
        if handler is None:              # AFF_ACK_AUTH and friends: recorded, never answered
            return None
        return handler(p)

    def _text(self, text: str) -> tuple[Attribute, ...]:
        return (Attribute(AttrType.TEXT_INFO, text.encode("utf-8")),) if text else ()

    def _on_challenge(self, p: PortalPacket) -> PortalPacket:
        if self.faults.challenge_err is not None:
            err, text = self.faults.challenge_err
            return self._reply(p, PacketType.ACK_CHALLENGE, err=err, attrs=self._text(text))
        if p.user_ip in self.online:
            return self._reply(p, PacketType.ACK_CHALLENGE, err=2, attrs=self._text("AC101"))
        session = self._sessions.get(p.user_ip)
        if session is None:
            session = _Session(self._allocate_req_id(), os.urandom(16), p.serial_no)
            self._sessions[p.user_ip] = session
        return self._reply(p, PacketType.ACK_CHALLENGE, req_id=session.req_id,
                           attrs=(Attribute(AttrType.CHALLENGE, session.challenge),))

    def _on_auth(self, p: PortalPacket) -> PortalPacket:
        if self.faults.auth_err is not None:
            err, text = self.faults.auth_err
            self._sessions.pop(p.user_ip, None)
            return self._reply(p, PacketType.ACK_AUTH, err=err, attrs=self._text(text))
        if p.user_ip in self.online:
            return self._reply(p, PacketType.ACK_AUTH, err=2)
        username = (p.get(AttrType.USER_NAME) or b"").decode("utf-8", errors="replace")
        password = self.users.get(username)
        if p.pap_chap == 1:
            ok = password is not None and p.get(AttrType.PASSWORD) == password.encode()
            req_id = p.req_id if self.pap_echo_req_id else self._allocate_req_id()
        else:
            session = self._sessions.get(p.user_ip)
            if session is None or p.req_id != session.req_id:
                self.stats["wrong_req_id"] += 1
                return self._reply(p, PacketType.ACK_AUTH, err=1, attrs=self._text("wrong ReqID"))
            expected = hashlib.md5(bytes([session.req_id & 0xFF]) + (password or "").encode()
                                   + session.challenge).digest()
            ok = password is not None and p.get(AttrType.CHAP_PASSWORD) == expected
            req_id = session.req_id
        self._sessions.pop(p.user_ip, None)
        if not ok:
            return self._reply(p, PacketType.ACK_AUTH, err=1, req_id=req_id,
                               attrs=self._text("用户名或密码错误 bad password"))
        self.online[p.user_ip] = username
        return self._reply(p, PacketType.ACK_AUTH, req_id=req_id, attrs=self._text(f"welcome {username}"))

    def _on_logout(self, p: PortalPacket) -> PortalPacket | None:
        if p.err_code == 1:               # timeout notice: abort the pending attempt, no reply
            self._sessions.pop(p.user_ip, None)
            self.stats["timeout_notices"] += 1
            return None
        if self.online.pop(p.user_ip, None) is None:
            return self._reply(p, PacketType.ACK_LOGOUT, err=3)
        return self._reply(p, PacketType.ACK_LOGOUT)

    def _on_info(self, p: PortalPacket) -> PortalPacket:
        if p.user_ip not in self.online:
            return self._reply(p, PacketType.ACK_INFO, err=2)
        return self._reply(p, PacketType.ACK_INFO, attrs=(
            Attribute(AttrType.PORT, b"fake-ac-vlan-0001"),
            Attribute(AttrType.UP_LINK_FLUX, struct.pack("!Q", 10)),
            Attribute(AttrType.DOWN_LINK_FLUX, struct.pack("!Q", 20))))


def fake_ac(flavour: str = "huawei-v2", **kwargs: object) -> FakePortalAc:
    """Convenience: a fake AC of a named flavour (not started)."""
    return FakePortalAc(profile=PROFILES[flavour], **kwargs)  # type: ignore[arg-type]

