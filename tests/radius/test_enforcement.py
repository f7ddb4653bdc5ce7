"""Disconnect / CoA against a loopback fake AC (pyrad-based), retries, NAKs, Portal fallback,
and the quota-exhausted trigger from accounting."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ac_adapters.codec import PortalPacket, decode, encode
from ac_adapters.constants import PacketType
from ac_adapters.profiles import PROFILES
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.grants import ClassSigner, Grant, make_class
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.runtime.settings import QuotaSettings
from radius.accounting import AccountingProcessor, AcctRecord, AcctStatus
from radius.enforcement import Enforcer, default_portal_logout
from radius.rfc5176 import DynCode, ErrorCause
from tests.fakes.dm_server import FakeDmServer

SECRET = "radius-secret-1234"
PHONE = "13800138000"


def _ac(coa_port: int, **kw: Any) -> AcRecord:
    return AcRecord(name="ac1", addresses=("127.0.0.1",), secret="portal-secret",
                    radius_secret=SECRET, coa_port=coa_port, **kw)


def _session(sid: str = "S1", **kw: Any) -> OnlineSession:
    base: dict[str, Any] = dict(mac="aa:bb:cc:dd:ee:01", ip="10.0.0.5", started=int(time.time()),
                                updated=int(time.time()), interim=300, plan="basic")
    base.update(kw)
    return OnlineSession("ac1", sid, PHONE, **base)


@pytest.fixture
def dm() -> Iterator[FakeDmServer]:
    with FakeDmServer(SECRET.encode()) as server:
        yield server


def _enforcer(redis_client: Any, **kw: Any) -> tuple[Enforcer, list[tuple[str, str, Any]]]:
    calls: list[tuple[str, str, Any]] = []

    def portal_logout(ac: AcRecord, ip: str, mac: str | None) -> bool:
        calls.append((ac.name, ip, mac))
        return True

    kw.setdefault("portal_logout", portal_logout)
    return Enforcer(redis_client, timeout=0.3, retries=3, **kw), calls


def test_disconnect_ack(redis_client: Any, dm: FakeDmServer) -> None:
    reg = SessionRegistry(redis_client)
    s = _session()
    reg.open(s)
    enf, calls = _enforcer(redis_client)
    res = enf.disconnect(s, "daily_time_used", ac=_ac(dm.port))
    assert (res.ok, res.method, res.attempts) == (True, "dm", 1)
    assert calls == [] and dm.bad == 0
    pkt = dm.received[0]
    assert pkt.code == DynCode.DISCONNECT_REQUEST
    assert dm.attr(0, "User-Name") == PHONE
    assert dm.attr(0, "Acct-Session-Id") == "S1"
    assert dm.attr(0, "Framed-IP-Address") == "10.0.0.5"
    assert dm.attr(0, "Calling-Station-Id") == "aa:bb:cc:dd:ee:01"
    assert dm.attr(0, "NAS-IP-Address") == "127.0.0.1"
    assert pkt.message_authenticator is not None
    assert reg.get("ac1", "S1") is None  # closed at once; the Stop books the rest


def test_ac_looked_up_in_registry(redis_client: Any, dm: FakeDmServer) -> None:
    AcRegistry(redis_client).put(_ac(dm.port))
    enf, _ = _enforcer(redis_client)
    assert enf.disconnect(_session()).ok
    assert enf.disconnect(dataclasses.replace(_session(), ac="ghost")).ok is False


def test_lost_first_request_is_retransmitted_identically(redis_client: Any) -> None:
    with FakeDmServer(SECRET.encode(), drop_first=1) as dm:
        enf, calls = _enforcer(redis_client)
        res = enf.disconnect(_session(), ac=_ac(dm.port))
    assert res.ok and res.attempts == 2 and calls == []
    assert len(dm.raw) == 2 and dm.raw[0] == dm.raw[1]  # same Identifier and Event-Timestamp


def test_wrong_secret_times_out_then_portal_fallback(redis_client: Any) -> None:
    with FakeDmServer(b"another-secret") as dm:
        enf, calls = _enforcer(redis_client)
        t0 = time.monotonic()
        res = enf.disconnect(_session(), ac=_ac(dm.port))
        elapsed = time.monotonic() - t0
    assert dm.bad == 3 and dm.received == []
    assert 0.8 <= elapsed < 5
    assert (res.ok, res.method, res.attempts) == (True, "portal", 3)
    assert calls == [("ac1", "10.0.0.5", "aa:bb:cc:dd:ee:01")]


def test_gateways_without_portal_protocol_get_no_req_logout_fallback(redis_client: Any) -> None:
    with FakeDmServer(b"another-secret") as dm:
        enf, calls = _enforcer(redis_client)
        res = enf.disconnect(_session(), ac=_ac(dm.port, kind="chilli"))
    assert dm.bad == 3 and calls == []            # never a Portal packet to a Chilli
    assert (res.ok, res.method) == (False, "none") and "no Portal REQ_LOGOUT" in res.detail


def test_nak_503_for_a_session_accounting_closed_is_success_other_naks_are_not(redis_client: Any) -> None:
    """(The session was never opened in the registry: really gone. With the session still online
    a 503 is not a success: tests/security/test_kick_identifiers.py.)"""
    enf, calls = _enforcer(redis_client)
    with FakeDmServer(SECRET.encode(), nak_cause=ErrorCause.SESSION_CONTEXT_NOT_FOUND) as dm:
        res = enf.disconnect(_session(), ac=_ac(dm.port))
    assert res.ok and res.error_cause == 503
    with FakeDmServer(SECRET.encode(), nak_cause=ErrorCause.SESSION_CONTEXT_NOT_REMOVABLE) as dm:
        res = enf.disconnect(_session(), ac=_ac(dm.port))
    assert not res.ok and res.error_cause == 504 and res.method == "dm"
    assert calls == []  # a NAK is an answer; no portal fallback


def test_coa_carries_new_limits_and_change_plan(redis_client: Any, dm: FakeDmServer) -> None:
    reg = SessionRegistry(redis_client)
    s = _session()
    reg.open(s)
    enf, _ = _enforcer(redis_client)
    grant = Grant("gold", session_timeout=120, idle_timeout=60, interim_interval=300,
                  up_kbps=512, down_kbps=2048, terminate_at=None,
                  class_=make_class(PHONE, "gold", time.time()))
    res = enf.change_plan(s, grant, ac=_ac(dm.port))
    assert res.ok and res.method == "coa"
    assert dm.received[0].code == DynCode.COA_REQUEST
    assert dm.attr(0, "Session-Timeout") == 120 and dm.attr(0, "Idle-Timeout") == 60
    assert dm.attr(0, "Class") is None  # the login's Class stays
    assert dm.received[0].get((2011, 2)) is not None  # Huawei Input-Average-Rate (dialect)
    got = reg.get("ac1", "S1")
    assert got is not None and got.plan == "gold"


def test_change_plan_falls_back_to_disconnect_when_coa_refused(redis_client: Any) -> None:
    enf, _ = _enforcer(redis_client)
    grant = Grant("gold", 120, None, 300, None, None, None, b"x")
    with FakeDmServer(SECRET.encode(), nak_cause=ErrorCause.UNSUPPORTED_SERVICE) as dm:
        res = enf.change_plan(_session(), grant, ac=_ac(dm.port))
    assert [p.code for p in dm.received] == [DynCode.COA_REQUEST, DynCode.DISCONNECT_REQUEST]
    assert not res.ok and res.reason == "plan_changed"
    no5176, _calls = _enforcer(redis_client)
    assert no5176.coa(_session(), grant, ac=_ac(9, rfc5176=False)).ok is False


def test_kick_phone(redis_client: Any, dm: FakeDmServer) -> None:
    AcRegistry(redis_client).put(_ac(dm.port))
    reg = SessionRegistry(redis_client)
    reg.open(_session("A"))
    reg.open(_session("B", mac="aa:bb:cc:dd:ee:02"))
    enf, _ = _enforcer(redis_client)
    results = enf.kick_phone(PHONE)
    assert [r.ok for r in results] == [True, True]
    assert sorted(dm.attr(i, "Acct-Session-Id") for i in range(2)) == ["A", "B"]
    assert reg.by_phone(PHONE) == []


class FakePortalAc:
    """A loopback AC answering REQ_LOGOUT with ACK_LOGOUT (Huawei v2, 32-byte header)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.profile = PROFILES["huawei-v2"]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.requests: list[PortalPacket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            req = decode(data, header=self.profile.header, secret=self.secret)
            self.requests.append(req)
            if req.type != PacketType.REQ_LOGOUT:
                continue
            ack = PortalPacket(type=PacketType.ACK_LOGOUT, version=req.version,
                               pap_chap=req.pap_chap, serial_no=req.serial_no, req_id=req.req_id,
                               user_ip=req.user_ip, err_code=0)
            self.sock.sendto(encode(ack, header=self.profile.header, secret=self.secret,
                                    request_authenticator=req.authenticator), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_portal_req_logout_fallback_for_acs_without_rfc5176(redis_client: Any) -> None:
    fake = FakePortalAc(b"portal-secret")
    try:
        ac = _ac(3799, rfc5176=False, port=fake.port, timeout=0.5, retries=2)
        enf = Enforcer(redis_client, timeout=0.3, retries=2)  # default portal_logout
        assert enf.portal_logout is default_portal_logout
        res = enf.disconnect(_session(), "total_volume_used", ac=ac)
    finally:
        fake.close()
    assert (res.ok, res.method, res.attempts) == (True, "portal", 0)
    assert [p.type for p in fake.requests] == [PacketType.REQ_LOGOUT]
    assert fake.requests[0].user_ip == "10.0.0.5"


def test_quota_exhausted_on_interim_disconnects(redis_client: Any, dm: FakeDmServer) -> None:
    ac = _ac(dm.port)
    AcRegistry(redis_client).put(ac)
    PlanStore(redis_client, cache_ttl=0).put(Plan("basic", total_volume=10_000))
    enf, _ = _enforcer(redis_client)
    signer = ClassSigner(b"k" * 32)
    proc = AccountingProcessor(redis_client, enf, settings=QuotaSettings(plan_cache_ttl=0),
                               class_signer=signer)
    now = time.time()
    cls = signer.make(PHONE, "basic", now, ac.name)

    def rec(status: AcctStatus, t: int, octets: int) -> AcctRecord:
        return AcctRecord(status=int(status), session_id="Q1", user_name=PHONE, class_=cls,
                          framed_ip="10.0.0.5", calling_station_id="aa:bb:cc:dd:ee:01",
                          session_time=t, input_octets=octets, output_octets=0)

    try:
        proc.process(ac, rec(AcctStatus.START, 0, 0), now)
        proc.process(ac, rec(AcctStatus.INTERIM_UPDATE, 300, 5_000), now + 300)
        proc.drain()
        assert dm.received == []  # still within quota
        proc.process(ac, rec(AcctStatus.INTERIM_UPDATE, 600, 12_000), now + 600)
        proc.process(ac, rec(AcctStatus.INTERIM_UPDATE, 600, 12_000), now + 601)  # retransmission
        proc.drain()
    finally:
        proc.close()
    assert len(dm.received) == 1
    assert dm.attr(0, "Acct-Session-Id") == "Q1"
    assert SessionRegistry(redis_client).count_for_phone(PHONE) == 0


def test_reply_codec_rejects_forged_or_mismatched_replies() -> None:
    import pytest as _pytest
    from pyrad.packet import CoAPacket

    from radius.dictionary import load_dictionary
    from radius.errors import MalformedPacket
    from radius.rfc5176 import decode_reply, encode_request, request_attrs

    attrs = request_attrs(user_name=PHONE, session_id="S", framed_ip=None,
                          calling_station_id=None, nas_ip="127.0.0.1", event_timestamp=1)
    request = encode_request(DynCode.DISCONNECT_REQUEST, 7, b"k", attrs)
    parsed = CoAPacket(packet=request, secret=b"k", dict=load_dictionary())
    assert parsed.VerifyCoARequest() and parsed.verify_message_authenticator()

    def reply(secret: bytes, code: int | None = None) -> bytes:
        r = parsed.CreateReply()
        r.secret = secret
        if code is not None:
            r.code = code
        return bytes(r.ReplyPacket())

    assert decode_reply(reply(b"k"), request, b"k").acked
    with _pytest.raises(MalformedPacket):
        decode_reply(reply(b"wrong"), request, b"k")
    with _pytest.raises(MalformedPacket):
        decode_reply(reply(b"k", code=DynCode.COA_ACK), request, b"k")  # answers another code
    with _pytest.raises(MalformedPacket):
        decode_reply(reply(b"k"), request[:1] + b"\x08" + request[2:], b"k")  # other ident


def test_a_zero_vector_message_authenticator_is_accepted_only_when_asked() -> None:
    """FreeRADIUS < 3.2.4 (Debian 12 ships 3.2.1) signs the Message-Authenticator of a
    Disconnect-ACK it relays over sixteen zero octets instead of the request's authenticator
    (its issue #5212). ``zero_vector_ma`` accepts that, and nothing else that is wrong."""
    import hashlib
    import hmac
    import struct

    from radius.errors import MalformedPacket
    from radius.rfc5176 import decode_reply, encode_request, request_attrs

    secret = b"proxy-secret"
    attrs = request_attrs(user_name=PHONE, session_id="S", framed_ip=None,
                          calling_station_id=None, nas_ip="127.0.0.1", event_timestamp=1)
    request = encode_request(DynCode.DISCONNECT_REQUEST, 9, secret, attrs)

    def ack(vector: bytes, key: bytes = secret) -> bytes:
        head = struct.pack("!BBH", DynCode.DISCONNECT_ACK, 9, 20 + 18)
        mac = hmac.new(key, head + vector + b"\x50\x12" + bytes(16), hashlib.md5).digest()
        body = b"\x50\x12" + mac
        return head + hashlib.md5(head + request[4:20] + body + secret).digest() + body

    assert decode_reply(ack(request[4:20]), request, secret).acked          # RFC 5176 form
    legacy = ack(bytes(16))
    with pytest.raises(MalformedPacket):
        decode_reply(legacy, request, secret)
    assert decode_reply(legacy, request, secret, zero_vector_ma=True).zero_vector_ma
    assert not decode_reply(ack(request[4:20]), request, secret, zero_vector_ma=True).zero_vector_ma
    with pytest.raises(MalformedPacket):                                   # another key: still no
        decode_reply(ack(bytes(16), b"other"), request, secret, zero_vector_ma=True)


def test_the_quota_checked_is_the_plan_the_session_record_names(redis_client: Any,
                                                               dm: FakeDmServer) -> None:
    """The mid-session quota check reads the plan from the session's record (a NOC plan change
    moves it), not from the Class: the script hands it back with the usage, and the record is
    decoded only for the disconnect."""
    ac = _ac(dm.port)
    AcRegistry(redis_client).put(ac)
    plans = PlanStore(redis_client, cache_ttl=0)
    plans.put(Plan("basic", total_volume=10**12))
    plans.put(Plan("tiny", total_volume=1_000))
    enf, _ = _enforcer(redis_client)
    signer = ClassSigner(b"k" * 32)
    proc = AccountingProcessor(redis_client, enf, settings=QuotaSettings(plan_cache_ttl=0),
                               class_signer=signer)
    now = time.time()
    cls = signer.make(PHONE, "basic", now, ac.name)

    def rec(status: AcctStatus, t: int, octets: int) -> AcctRecord:
        return AcctRecord(status=int(status), session_id="P1", user_name=PHONE, class_=cls,
                          framed_ip="10.0.0.5", calling_station_id="aa:bb:cc:dd:ee:01",
                          session_time=t, input_octets=octets, output_octets=0)

    reg = SessionRegistry(redis_client)
    try:
        proc.process(ac, rec(AcctStatus.START, 0, 0), now)
        proc.process(ac, rec(AcctStatus.INTERIM_UPDATE, 300, 5_000), now + 300)
        proc.drain()
        assert dm.received == []            # 5 kB is nothing on "basic"
        session = reg.get(ac.name, "P1")
        assert session is not None
        reg.with_plan(session, "tiny")
        proc.process(ac, rec(AcctStatus.INTERIM_UPDATE, 600, 6_000), now + 600)
        proc.drain()
    finally:
        proc.close()
    assert len(dm.received) == 1 and dm.attr(0, "Acct-Session-Id") == "P1"
