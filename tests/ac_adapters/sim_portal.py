"""Test-side helpers for the AC simulator: a minimal portal built on the codec only, a
loopback "portal listener" socket, a pyrad-based RADIUS peer and a controllable clock.

Deliberately independent of ``ac_adapters.client`` so simulator tests exercise the wire
format as written in the spec, not another component of ours.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pyrad.packet import AccessAccept, AccessReject, AccountingResponse, AuthPacket, Packet

from ac_adapters.codec import (
    Attribute,
    PortalPacket,
    chap_password,
    decode,
    encode,
    mac_attr,
    text_attr,
)
from ac_adapters.constants import RESPONSE_TYPES, AttrType, PacketType
from ac_adapters.profiles import MacAttr, VendorProfile, get_profile
from ac_adapters.simulator.radius_client import load_dictionary

__all__ = ["FakeClock", "MiniPortal", "PortalSink", "RadiusPeer"]


class FakeClock:
    """Injectable monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def wait_for(predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class MiniPortal:
    """Speaks the portal side of §1.10 over one UDP socket."""

    def __init__(self, ac_port: int, flavour: str = "huawei-v2", secret: bytes = b"testing123") -> None:
        self.ac = ("127.0.0.1", ac_port)
        self.profile: VendorProfile = get_profile(flavour)
        self.secret = secret
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self._serial = 100
        self.last_raw = b""

    def close(self) -> None:
        self.sock.close()

    def serial(self) -> int:
        self._serial = self._serial % 0xFFFF + 1
        return self._serial

    def packet(self, ptype: int, ip: str, **kw: Any) -> PortalPacket:
        return PortalPacket(type=ptype, version=self.profile.version, user_ip=ip, **kw)

    def encode(self, packet: PortalPacket, secret: bytes | None = None) -> bytes:
        return encode(packet, header=self.profile.header, secret=self.secret if secret is None else secret)

    def send(self, packet: PortalPacket, secret: bytes | None = None) -> bytes:
        raw = self.encode(packet, secret)
        self.sock.sendto(raw, self.ac)
        self.last_raw = raw
        return raw

    def receive(self, request_raw: bytes | None, timeout: float = 2.0) -> PortalPacket | None:
        """Next datagram from the AC, authenticator checked against ``request_raw``."""
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        req_auth = request_raw[16:32] if request_raw is not None and self.profile.has_authenticator else None
        check = self.secret if data[1] in RESPONSE_TYPES or not self.profile.has_authenticator else None
        return decode(data, header=self.profile.header, secret=check, request_authenticator=req_auth)

    def request(
        self, packet: PortalPacket, timeout: float = 2.0, secret: bytes | None = None
    ) -> PortalPacket | None:
        raw = self.send(packet, secret)
        return self.receive(raw, timeout)

    def mac_attrs(self, mac: str | None) -> tuple[Attribute, ...]:
        if mac is None or self.profile.mac_attr is MacAttr.NONE:
            return ()
        return (mac_attr(self.profile.mac_attr.value, mac),)

    def challenge(self, ip: str, serial: int | None = None, mac: str | None = None) -> PortalPacket | None:
        return self.request(self.packet(
            PacketType.REQ_CHALLENGE, ip, serial_no=serial or self.serial(), attrs=self.mac_attrs(mac)
        ))

    def auth_chap(
        self, ip: str, user: str, password: str, ack: PortalPacket, *, req_id: int | None = None,
        mac: str | None = None,
    ) -> PortalPacket | None:
        challenge = ack.get(AttrType.CHALLENGE) or b""
        rid = ack.req_id if req_id is None else req_id
        attrs = (
            text_attr(AttrType.USER_NAME, user), Attribute(AttrType.CHALLENGE, challenge),
            Attribute(AttrType.CHAP_PASSWORD, chap_password(rid, password.encode(), challenge)),
            *self.mac_attrs(mac),
        )
        return self.request(self.packet(PacketType.REQ_AUTH, ip, serial_no=ack.serial_no, req_id=rid,
                                        attrs=attrs), timeout=5.0)

    def auth_pap(self, ip: str, user: str, password: str, mac: str | None = None) -> PortalPacket | None:
        attrs = (text_attr(AttrType.USER_NAME, user), Attribute(AttrType.PASSWORD, password.encode()),
                 *self.mac_attrs(mac))
        return self.request(self.packet(PacketType.REQ_AUTH, ip, pap_chap=1, serial_no=self.serial(),
                                        attrs=attrs), timeout=5.0)

    def aff(self, ip: str, ack: PortalPacket) -> None:
        self.send(self.packet(PacketType.AFF_ACK_AUTH, ip, serial_no=ack.serial_no, req_id=ack.req_id,
                              pap_chap=ack.pap_chap))

    def login_chap(self, ip: str, user: str, password: str, mac: str | None = None) -> PortalPacket | None:
        ack = self.challenge(ip, mac=mac)
        assert ack is not None and ack.err_code == 0, ack
        result = self.auth_chap(ip, user, password, ack, mac=mac)
        if result is not None and result.err_code in (0, 2):
            self.aff(ip, result)
        return result

    def logout(
        self, ip: str, err: int = 0, serial: int | None = None, req_id: int = 0
    ) -> PortalPacket | None:
        return self.request(self.packet(PacketType.REQ_LOGOUT, ip, serial_no=serial or self.serial(),
                                        err_code=err, req_id=req_id))


class PortalSink:
    """A UDP socket playing the portal's listener (where NTF_LOGOUT / 0x30 arrive)."""

    def __init__(self, flavour: str = "huawei-v2", secret: bytes = b"testing123") -> None:
        self.profile = get_profile(flavour)
        self.secret = secret
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def receive(self, timeout: float = 3.0) -> tuple[PortalPacket, bytes, tuple[str, int]] | None:
        self.sock.settimeout(timeout)
        try:
            data, addr = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        secret = self.secret if self.profile.has_authenticator else None
        return decode(data, header=self.profile.header, secret=secret), data, addr

    def answer(self, packet: PortalPacket, raw: bytes, addr: tuple[str, int], reply_type: int,
               err: int = 0) -> None:
        reply = PortalPacket(
            type=reply_type, version=self.profile.version, serial_no=packet.serial_no,
            req_id=packet.req_id, user_ip=packet.user_ip, err_code=err,
        )
        data = encode(reply, header=self.profile.header, secret=self.secret,
                      request_authenticator=raw[16:32] if self.profile.has_authenticator else None)
        self.sock.sendto(data, addr)


@dataclass
class RadiusPeer:
    """A small RADIUS server on loopback built from pyrad packets (auth + acct), recording all."""

    users: dict[str, str]
    reply: dict[str, Any] = field(default_factory=dict)
    secret: bytes = b"testing123"
    reject_message: str = "wrong password / 密码错误"
    silent: bool = False                  # True: never answer (timeout tests)

    def __post_init__(self) -> None:
        self.dict = load_dictionary()
        self.auth_requests: list[Packet] = []
        self.acct_requests: list[Packet] = []
        self._socks = []
        for _ in range(2):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(0.1)
            self._socks.append(sock)
        self.auth_port = int(self._socks[0].getsockname()[1])
        self.acct_port = int(self._socks[1].getsockname()[1])
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve, args=(s, i == 1), daemon=True)
                         for i, s in enumerate(self._socks)]
        for t in self._threads:
            t.start()

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for s in self._socks:
            s.close()

    def acct_status(self) -> list[int]:
        return [int(p["Acct-Status-Type"][0]) for p in self.acct_requests]

    def _serve(self, sock: socket.socket, acct: bool) -> None:
        while not self._stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if acct:
                pkt = Packet(packet=data, secret=self.secret, dict=self.dict)
                self.acct_requests.append(pkt)
                if not self.silent:
                    sock.sendto(pkt.CreateReply(code=AccountingResponse).ReplyPacket(), addr)
                continue
            req = AuthPacket(packet=data, secret=self.secret, dict=self.dict)
            self.auth_requests.append(req)
            if self.silent:
                continue
            name = req["User-Name"][0]
            ok = False
            known = self.users.get(name)
            if known is not None and "CHAP-Password" in req:
                chap = req["CHAP-Password"][0]
                challenge = req["CHAP-Challenge"][0]
                ok = hashlib.md5(chap[:1] + known.encode() + challenge).digest() == chap[1:]
            elif known is not None and "User-Password" in req:
                ok = req.PwDecrypt(req["User-Password"][0]) == known
            reply = req.CreateReply()
            reply.code = AccessAccept if ok else AccessReject
            if ok:
                for key, value in self.reply.items():
                    reply[key] = value
            else:
                reply["Reply-Message"] = self.reject_message
            reply.add_message_authenticator()
            sock.sendto(reply.ReplyPacket(), addr)
