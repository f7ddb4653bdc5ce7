"""State-table tests of the portal-side exchanges
(docs/protocols/portal-protocol.md §1.5, §1.6, §1.8, §1.10)."""

from __future__ import annotations

import hashlib
import itertools
import struct
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ac_adapters.codec import Attribute, PortalPacket
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.errors import ExchangeError
from ac_adapters.exchange import (
    AcEndpoint,
    Event,
    Finish,
    InfoExchange,
    InfoResult,
    LoginExchange,
    LoginResult,
    LogoutExchange,
    LogoutResult,
    Send,
    State,
    Wait,
)
from ac_adapters.profiles import PROFILES, AuthMethod

IP = "10.1.2.3"
MAC = "AA-BB-CC-DD-EE-01"
CHALLENGE = bytes(range(16))
V2 = AcEndpoint("192.0.2.1", profile=PROFILES["huawei-v2"], secret=b"s", bas_ip="192.0.2.1")


def sends(actions: list) -> list[PortalPacket]:
    return [a.packet for a in actions if isinstance(a, Send)]


def finish(actions: list) -> Any:   # the concrete result type is asserted where it matters
    results = [a.result for a in actions if isinstance(a, Finish)]
    assert len(results) == 1
    return results[0]


def ack(ptype: PacketType, serial: int, *, req_id: int = 0, err: int = 0,
        attrs: tuple[Attribute, ...] = (), user_ip: str = IP) -> PortalPacket:
    return PortalPacket(type=ptype, serial_no=serial, req_id=req_id, user_ip=user_ip,
                        err_code=err, attrs=attrs)


def ack_challenge(serial: int, req_id: int = 0x1234, err: int = 0) -> PortalPacket:
    return ack(PacketType.ACK_CHALLENGE, serial, req_id=req_id, err=err,
               attrs=(Attribute(AttrType.CHALLENGE, CHALLENGE),) if err == 0 else ())


def test_chap_login_happy_path_carries_serial_reqid_and_digest() -> None:
    ex = LoginExchange(V2, 4321, IP, "13300000001", "otp-123456", mac=MAC)
    a = ex.start(now=100.0)
    assert ex.state is State.CHALLENGING
    (req,) = sends(a)
    assert req.type == PacketType.REQ_CHALLENGE and req.serial_no == 4321 and req.req_id == 0
    assert req.pap_chap == 0 and req.version == 2 and req.user_ip == IP
    assert req.get(AttrType.USER_MAC) == bytes.fromhex("aabbccddee01")
    assert req.get(AttrType.BAS_IP) == bytes([192, 0, 2, 1])
    assert a[-1] == Wait(PacketType.ACK_CHALLENGE, 4321, IP, 103.0)

    a = ex.receive(ack_challenge(4321, req_id=0x1234), now=100.5)
    assert ex.state is State.AUTHENTICATING
    (auth,) = sends(a)
    assert auth.type == PacketType.REQ_AUTH and auth.serial_no == 4321 and auth.req_id == 0x1234
    assert auth.get(AttrType.USER_NAME) == b"13300000001"
    assert auth.get(AttrType.CHALLENGE) == CHALLENGE
    # §1.8: ChapID = low byte of ReqID.
    assert auth.get(AttrType.CHAP_PASSWORD) == hashlib.md5(b"\x34" + b"otp-123456" + CHALLENGE).digest()
    assert auth.get(AttrType.BAS_IP) and auth.get(AttrType.USER_MAC)
    assert a[-1] == Wait(PacketType.ACK_AUTH, 4321, IP, 103.5)

    a = ex.receive(ack(PacketType.ACK_AUTH, 4321, req_id=0x1234, attrs=(
        Attribute(AttrType.TEXT_INFO, b"welcome"),)), now=101.0)
    assert ex.state is State.DONE and ex.done
    (aff,) = sends(a)
    assert aff.type == PacketType.AFF_ACK_AUTH and aff.serial_no == 4321 and aff.req_id == 0x1234
    assert aff.pap_chap == 0
    res = finish(a)
    assert isinstance(res, LoginResult)
    assert res.ok and res.err_code == 0 and res.req_id == 0x1234 and res.stage == "done"
    assert not res.already_online and not res.timed_out and res.text == "welcome"
    assert res.timings == pytest.approx({"challenge": 0.5, "auth": 0.5, "total": 1.0})
    assert res.message_zh and res.message_en


def test_challenge_attr_in_auth_follows_profile() -> None:
    prof = replace(PROFILES["huawei-v2"], send_challenge_in_auth=False)
    ex = LoginExchange(replace(V2, profile=prof), 9, IP, "u", "p")
    ex.start(0.0)
    (auth,) = sends(ex.receive(ack_challenge(9), 0.1))
    assert auth.get(AttrType.CHALLENGE) is None and auth.get(AttrType.CHAP_PASSWORD) is not None


@pytest.mark.parametrize(("flavour", "mac_type", "bas"), [
    ("huawei-v2", AttrType.USER_MAC, True), ("huawei-v1", AttrType.USER_MAC, False),
    ("h3c", AttrType.USER_MAC, True), ("cmcc", None, False), ("hanming", AttrType.HANMING_MAC, False),
])
def test_mac_and_bas_ip_attrs_per_profile(flavour: str, mac_type: AttrType | None, bas: bool) -> None:
    ac = AcEndpoint("192.0.2.9", profile=PROFILES[flavour], bas_ip="192.0.2.9")
    ex = LoginExchange(ac, 5, IP, "u", "p", mac=MAC)
    (req,) = sends(ex.start(0.0))
    assert req.version == PROFILES[flavour].version
    if mac_type is None:
        assert req.get(AttrType.USER_MAC) is None and req.get(AttrType.HANMING_MAC) is None
    else:
        assert req.get(mac_type) == bytes.fromhex("aabbccddee01")
    assert (req.get(AttrType.BAS_IP) is not None) is bas
    # Without a MAC nothing MAC-ish is sent; without bas_ip no BAS-IP attribute.
    (bare,) = sends(LoginExchange(replace(ac, bas_ip=""), 5, IP, "u", "p").start(0.0))
    assert bare.attrs == ()


def test_pap_login_reqid_zero_then_ack_auth_reqid() -> None:
    ex = LoginExchange(V2, 77, IP, "user", "secret-pw", pap=True)
    a = ex.start(0.0)
    assert ex.state is State.AUTHENTICATING
    (auth,) = sends(a)
    assert auth.type == PacketType.REQ_AUTH and auth.pap_chap == 1 and auth.req_id == 0
    assert auth.get(AttrType.PASSWORD) == b"secret-pw" and auth.get(AttrType.CHAP_PASSWORD) is None
    a = ex.receive(ack(PacketType.ACK_AUTH, 77, req_id=0x0042), 0.2)
    (aff,) = sends(a)
    assert aff.type == PacketType.AFF_ACK_AUTH and aff.req_id == 0x42 and aff.pap_chap == 1
    res = finish(a)
    assert res.ok and res.req_id == 0x42 and "challenge" not in res.timings


def test_pap_default_comes_from_profile() -> None:
    prof = replace(PROFILES["cmcc"], auth=AuthMethod.PAP)
    (req,) = sends(LoginExchange(AcEndpoint("h", profile=prof), 1, IP, "u", "p").start(0.0))
    assert req.type == PacketType.REQ_AUTH and req.pap_chap == 1
    (req,) = sends(LoginExchange(AcEndpoint("h", profile=prof), 1, IP, "u", "p", pap=False).start(0.0))
    assert req.type == PacketType.REQ_CHALLENGE


def test_ack_challenge_already_online_is_success_without_req_auth() -> None:
    ex = LoginExchange(V2, 3, IP, "u", "p")
    ex.start(0.0)
    a = ex.receive(ack_challenge(3, req_id=0, err=2), 0.1)
    assert sends(a) == []
    res = finish(a)
    assert res.ok and res.already_online and res.err_code == 2 and res.stage == "done"
    assert ex.state is State.DONE


def test_ack_auth_already_online_is_success_and_confirmed() -> None:
    ex = LoginExchange(V2, 3, IP, "u", "p")
    ex.start(0.0)
    ex.receive(ack_challenge(3, req_id=5), 0.1)
    a = ex.receive(ack(PacketType.ACK_AUTH, 3, req_id=5, err=2), 0.2)
    assert [p.type for p in sends(a)] == [PacketType.AFF_ACK_AUTH]
    res = finish(a)
    assert res.ok and res.already_online and res.err_code == 2


@pytest.mark.parametrize("err", [1, 3, 4])
def test_ack_challenge_errors_fail_with_text(err: int) -> None:
    ex = LoginExchange(V2, 3, IP, "u", "p")
    ex.start(0.0)
    pkt = ack(PacketType.ACK_CHALLENGE, 3, err=err, attrs=(Attribute(AttrType.TEXT_INFO, b"AC102"),))
    a = ex.receive(pkt, 0.1)
    assert sends(a) == []
    res = finish(a)
    assert not res.ok and res.err_code == err and res.stage == "challenge" and res.text == "AC102"
    assert f"ErrCode {err}" in res.diagnostic and "AC102" in res.diagnostic


@pytest.mark.parametrize(("err", "meaning"), [(1, "rejected"), (3, "in progress"), (4, "failed")])
def test_ack_auth_errors_fail_with_text_and_err_text(err: int, meaning: str) -> None:
    ex = LoginExchange(V2, 3, IP, "u", "p")
    ex.start(0.0)
    ex.receive(ack_challenge(3, req_id=5), 0.1)
    a = ex.receive(ack(PacketType.ACK_AUTH, 3, req_id=5, err=err, attrs=(
        Attribute(AttrType.TEXT_INFO, "密码错误".encode()), )), 0.3)
    assert sends(a) == []     # no AFF_ACK_AUTH on failure
    res = finish(a)
    assert not res.ok and res.err_code == err and res.stage == "auth" and res.text == "密码错误"
    assert meaning in res.diagnostic
    # Without TextInfo the text is the ErrCode meaning.
    ex2 = LoginExchange(V2, 3, IP, "u", "p")
    ex2.start(0.0)
    ex2.receive(ack_challenge(3), 0.1)
    assert meaning in finish(ex2.receive(ack(PacketType.ACK_AUTH, 3, err=err), 0.2)).text


def test_ack_challenge_without_challenge_aborts_with_notice() -> None:
    ex = LoginExchange(V2, 3, IP, "u", "p")
    ex.start(0.0)
    a = ex.receive(ack(PacketType.ACK_CHALLENGE, 3, req_id=8), 0.1)
    (notice,) = sends(a)
    assert notice.type == PacketType.REQ_LOGOUT and notice.err_code == 1 and notice.req_id == 8
    assert not finish(a).ok


def test_challenge_timeout_retransmits_then_sends_notice_with_reqid_zero() -> None:
    ac = replace(V2, timeout=2.0, retries=3)
    ex = LoginExchange(ac, 600, IP, "u", "p", mac=MAC)
    (first,) = sends(ex.start(10.0))
    for i, now in enumerate((12.0, 14.0)):
        a = ex.timeout(now)
        assert ex.state is State.CHALLENGING and ex.tries == i + 2
        assert a == [Send(first, retransmission=True), Wait(PacketType.ACK_CHALLENGE, 600, IP, now + 2.0)]
    a = ex.timeout(16.0)
    (notice,) = sends(a)
    assert notice.type == PacketType.REQ_LOGOUT and notice.err_code == 1
    assert notice.serial_no == 600 and notice.req_id == 0 and notice.pap_chap == 0
    assert notice.get(AttrType.USER_MAC) is not None
    res = finish(a)
    assert res.timed_out and not res.ok and res.err_code is None and res.stage == "challenge"
    assert "wrong shared secret" in res.diagnostic and "header form" in res.diagnostic
    assert "192.0.2.1:2000" in res.diagnostic and "3 tries" in res.diagnostic
    assert res.timings["total"] == pytest.approx(6.0)
    with pytest.raises(ExchangeError):
        ex.timeout(17.0)


def test_auth_timeout_notice_carries_req_auth_reqid() -> None:
    ex = LoginExchange(replace(V2, retries=1), 600, IP, "u", "p")
    ex.start(0.0)
    ex.receive(ack_challenge(600, req_id=0x0abc), 0.1)
    a = ex.timeout(3.1)
    (notice,) = sends(a)
    assert notice.type == PacketType.REQ_LOGOUT and notice.err_code == 1
    assert notice.serial_no == 600 and notice.req_id == 0x0abc
    res = finish(a)
    assert res.timed_out and res.stage == "auth" and res.req_id == 0x0abc and "REQ_AUTH" in res.diagnostic


def test_pap_auth_timeout_notice_reqid_zero_and_pap_flag() -> None:
    ex = LoginExchange(replace(V2, retries=2), 9, IP, "u", "p", pap=True)
    ex.start(0.0)
    assert len(sends(ex.timeout(3.0))) == 1
    (notice,) = sends(ex.timeout(6.0))
    assert notice.req_id == 0 and notice.pap_chap == 1 and notice.serial_no == 9


def test_logout_exchange() -> None:
    ex = LogoutExchange(V2, 1000, IP, mac=MAC, pap=True)
    a = ex.start(5.0)
    (req,) = sends(a)
    assert req.type == PacketType.REQ_LOGOUT and req.err_code == 0 and req.pap_chap == 1
    assert req.serial_no == 1000 and req.get(AttrType.USER_MAC) is not None
    assert a[-1] == Wait(PacketType.ACK_LOGOUT, 1000, IP, 8.0)
    res = finish(ex.receive(ack(PacketType.ACK_LOGOUT, 1000), 5.2))
    assert isinstance(res, LogoutResult) and res.ok and not res.already_offline
    for err, ok, offline in ((3, True, True), (1, False, False), (2, False, False)):
        ex = LogoutExchange(V2, 1000, IP)
        ex.start(0.0)
        res = finish(ex.receive(ack(PacketType.ACK_LOGOUT, 1000, err=err), 0.1))
        assert (res.ok, res.err_code) == (ok, err)
        assert isinstance(res, LogoutResult) and res.already_offline is offline


def test_logout_timeout_has_no_notice() -> None:
    ex = LogoutExchange(replace(V2, retries=2), 1000, IP)
    ex.start(0.0)
    assert len(sends(ex.timeout(3.0))) == 1
    a = ex.timeout(6.0)
    assert sends(a) == []
    res = finish(a)
    assert res.timed_out and not res.ok and "wrong shared secret" in res.diagnostic


def test_info_exchange() -> None:
    ex = InfoExchange(V2, 12, IP)
    (req,) = sends(ex.start(0.0))
    assert req.type == PacketType.REQ_INFO
    assert [(a.type, a.value) for a in req.attrs[:3]] == [
        (AttrType.PORT, b""), (AttrType.UP_LINK_FLUX, b""), (AttrType.DOWN_LINK_FLUX, b"")]
    res = finish(ex.receive(ack(PacketType.ACK_INFO, 12, attrs=(
        Attribute(AttrType.PORT, b"AR49-45-vlan-00-0000@vlan"),
        Attribute(AttrType.UP_LINK_FLUX, struct.pack("!Q", 1234)),
        Attribute(AttrType.DOWN_LINK_FLUX, struct.pack("!Q", 2**40)))), 0.1))
    assert isinstance(res, InfoResult) and res.ok
    assert (res.port, res.up_kbytes, res.down_kbytes) == ("AR49-45-vlan-00-0000@vlan", 1234, 2**40)
    ex = InfoExchange(replace(V2, retries=1), 12, IP)
    ex.start(0.0)
    assert finish(ex.timeout(3.0)).timed_out


# --- the tables: every listed transition is reachable, everything else raises ------------------

MACHINES = {
    "chap": lambda: LoginExchange(V2, 50, IP, "u", "p"),
    "pap": lambda: LoginExchange(V2, 50, IP, "u", "p", pap=True),
    "logout": lambda: LogoutExchange(V2, 50, IP),
    "info": lambda: InfoExchange(V2, 50, IP),
}
REPLY_OF_EVENT = {
    Event.ACK_CHALLENGE: PacketType.ACK_CHALLENGE, Event.ACK_AUTH: PacketType.ACK_AUTH,
    Event.ACK_LOGOUT: PacketType.ACK_LOGOUT, Event.ACK_INFO: PacketType.ACK_INFO,
}


def fire(ex: Any, event: Event) -> list:
    if event is Event.START:
        return ex.start(1.0)
    if event is Event.TIMEOUT:
        return ex.timeout(1.0)
    ptype = REPLY_OF_EVENT[event]
    attrs = (Attribute(AttrType.CHALLENGE, CHALLENGE),) if ptype == PacketType.ACK_CHALLENGE else ()
    return ex.receive(ack(ptype, 50, req_id=3, attrs=attrs), 1.0)


@pytest.mark.parametrize("kind", list(MACHINES))
def test_every_state_event_pair_outside_the_table_raises(kind: str) -> None:
    table = type(MACHINES[kind]()).TABLE
    for state, event in itertools.product(State, Event):
        ex = MACHINES[kind]()
        ex.state = state
        if (state, event) in table:
            continue
        with pytest.raises(ExchangeError):
            fire(ex, event)
        assert ex.state is state      # a refused input changes nothing


@pytest.mark.parametrize("kind", list(MACHINES))
def test_every_table_entry_is_reachable_and_lands_in_an_allowed_state(kind: str) -> None:
    table = type(MACHINES[kind]()).TABLE
    seen = set()
    # Walk: start, then for each waiting state try every event that the table lists.
    for (state, event), (_, allowed) in table.items():
        ex = MACHINES[kind]()
        if kind == "pap" and state is State.CHALLENGING:
            continue                       # PAP never challenges; the "chap" run covers these rows
        if state is not State.IDLE:
            fire(ex, Event.START)
            if ex.state is not state:      # AUTHENTICATING in a CHAP login: go through the challenge
                fire(ex, Event.ACK_CHALLENGE)
        assert ex.state is state
        fire(ex, event)
        assert ex.state in allowed
        seen.add((state, event))
    skipped = {k for k in table if kind == "pap" and k[0] is State.CHALLENGING}
    assert seen == set(table) - skipped


def test_done_refuses_everything() -> None:
    ex = LoginExchange(V2, 3, IP, "u", "p")
    ex.start(0.0)
    ex.receive(ack_challenge(3, err=2), 0.1)
    for event in Event:
        with pytest.raises(ExchangeError):
            fire(ex, event)


def test_reply_for_another_serial_or_user_or_a_request_type_raises() -> None:
    ex = LoginExchange(V2, 3, IP, "u", "p")
    ex.start(0.0)
    with pytest.raises(ExchangeError):
        ex.receive(ack_challenge(4), 0.1)
    with pytest.raises(ExchangeError):
        ex.receive(ack(PacketType.ACK_CHALLENGE, 3, user_ip="10.9.9.9"), 0.1)
    with pytest.raises(ExchangeError):
        ex.receive(ack(PacketType.REQ_AUTH, 3), 0.1)
    with pytest.raises(ExchangeError):       # an ACK_AUTH while challenging is out of order
        ex.receive(ack(PacketType.ACK_AUTH, 3), 0.1)
    assert ex.state is State.CHALLENGING


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ExchangeError):
        LoginExchange(V2, 0, IP, "u", "p")           # SerialNo 0 is skipped (§1.6 allocation)
    with pytest.raises(ExchangeError):
        LoginExchange(V2, 1, IP, "", "p")
    with pytest.raises(ValueError):
        LoginExchange(V2, 1, IP, "u", "p", mac="not-a-mac")
    with pytest.raises(ValueError):
        AcEndpoint("h", retries=0)
    with pytest.raises(ValueError):
        AcEndpoint("h", timeout=0)


@settings(max_examples=60, deadline=None)
@given(req_id=st.integers(1, 0xFFFF), password=st.binary(max_size=64),
       challenge=st.binary(min_size=16, max_size=16))
def test_chap_digest_property(req_id: int, password: bytes, challenge: bytes) -> None:
    ex = LoginExchange(V2, 1, IP, "u", password)
    ex.start(0.0)
    (auth,) = sends(ex.receive(ack(PacketType.ACK_CHALLENGE, 1, req_id=req_id, attrs=(
        Attribute(AttrType.CHALLENGE, challenge),)), 0.0))
    expected = hashlib.md5(bytes([req_id & 0xFF]) + password + challenge).digest()
    assert auth.get(AttrType.CHAP_PASSWORD) == expected and auth.req_id == req_id
