"""Portal-protocol behaviour of the AC simulator over loopback (``local_users`` mode)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from ac_adapters.codec import Attribute, PortalPacket, text_attr
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.profiles import PROFILES
from ac_adapters.simulator import SimConfig, SimulatedAc, UserState
from tests.ac_adapters.sim_portal import FakeClock, MiniPortal, PortalSink, wait_for

USERS = {"13800138000": "123456"}
PHONE, OTP = "13800138000", "123456"


def make(flavour: str = "huawei-v2", clock: FakeClock | None = None, **kw: object) -> SimulatedAc:
    cfg = SimConfig(flavour=flavour, radius_host=None, local_users=USERS, coa_port=None, tick=0.01,
                    **kw)  # type: ignore[arg-type]
    return SimulatedAc(cfg, clock=clock) if clock else SimulatedAc(cfg)


@pytest.fixture
def sim() -> Iterator[tuple[SimulatedAc, MiniPortal]]:
    ac = make().start()
    portal = MiniPortal(ac.port)
    try:
        yield ac, portal
    finally:
        portal.close()
        ac.stop()


@pytest.mark.parametrize("flavour", sorted(PROFILES))
def test_chap_and_pap_login_per_flavour(flavour: str) -> None:
    with make(flavour) as ac:
        portal = MiniPortal(ac.port, flavour)
        try:
            ack = portal.login_chap("10.1.0.2", PHONE, OTP, mac="aa:bb:cc:00:00:02")
            assert ack is not None and ack.err_code == 0
            assert ack.type == PacketType.ACK_AUTH
            result = portal.auth_pap("10.1.0.3", PHONE, OTP)
            assert result is not None and result.err_code == 0
            assert result.req_id != 0           # PAP: the AC assigns the ReqID in ACK_AUTH
            portal.aff("10.1.0.3", result)
            online = ac.online()
            assert set(online) == {"10.1.0.2", "10.1.0.3"}
            assert online["10.1.0.2"].auth == "chap" and online["10.1.0.3"].auth == "pap"
            if PROFILES[flavour].mac_attr.value:
                assert online["10.1.0.2"].mac == "aa:bb:cc:00:00:02"
            assert wait_for(lambda: ac.online()["10.1.0.3"].affirmed)
            bad = portal.auth_pap("10.1.0.4", PHONE, "000000")
            assert bad is not None and bad.err_code == 1 and "10.1.0.4" not in ac.online()
        finally:
            portal.close()


def test_wrong_chap_password_rejected_with_text(sim: tuple[SimulatedAc, MiniPortal]) -> None:
    ac, portal = sim
    ack = portal.challenge("10.0.0.9")
    assert ack is not None
    result = portal.auth_chap("10.0.0.9", PHONE, "999999", ack)
    assert result is not None and result.err_code == 1
    assert "wrong password" in result.text()
    assert ac.state_of("10.0.0.9") is UserState.IDLE


def test_bad_authenticator_is_silently_dropped(sim: tuple[SimulatedAc, MiniPortal]) -> None:
    ac, portal = sim
    packet = portal.packet(PacketType.REQ_CHALLENGE, "10.0.0.5", serial_no=5)
    assert portal.request(packet, timeout=0.5, secret=b"wrong-secret") is None
    assert ac.stats["dropped_bad_auth"] == 1
    assert ac.state_of("10.0.0.5") is None
    assert portal.request(packet, timeout=2) is not None     # the right secret still works


def test_repeated_challenge_gets_same_reqid_and_challenge(sim: tuple[SimulatedAc, MiniPortal]) -> None:
    _ac, portal = sim
    first = portal.challenge("10.0.0.6")
    second = portal.challenge("10.0.0.6")
    assert first is not None and second is not None
    assert (first.req_id, first.get(AttrType.CHALLENGE)) == (second.req_id, second.get(AttrType.CHALLENGE))
    assert first.req_id != 0 and len(first.get(AttrType.CHALLENGE) or b"") == 16
    other = portal.challenge("10.0.0.7")
    assert other is not None and other.req_id != first.req_id


def test_wrong_reqid_gets_errcode_1(sim: tuple[SimulatedAc, MiniPortal]) -> None:
    ac, portal = sim
    ack = portal.challenge("10.0.0.8")
    assert ack is not None
    result = portal.auth_chap("10.0.0.8", PHONE, OTP, ack, req_id=(ack.req_id + 1) % 0xFFFF or 1)
    assert result is not None and result.type == PacketType.ACK_AUTH and result.err_code == 1
    assert ac.state_of("10.0.0.8") is UserState.CHALLENGED      # the real challenge is still valid
    good = portal.auth_chap("10.0.0.8", PHONE, OTP, ack)
    assert good is not None and good.err_code == 0


def test_already_online_errcode_2(sim: tuple[SimulatedAc, MiniPortal]) -> None:
    _ac, portal = sim
    assert portal.login_chap("10.0.0.10", PHONE, OTP) is not None
    again = portal.challenge("10.0.0.10")
    assert again is not None and again.err_code == 2
    pap = portal.auth_pap("10.0.0.10", PHONE, OTP)
    assert pap is not None and pap.err_code == 2


def test_challenge_expires_after_ttl() -> None:
    clock = FakeClock()
    with make(clock=clock, challenge_ttl=0.5) as ac:
        portal = MiniPortal(ac.port)
        try:
            ack = portal.challenge("10.0.0.11")
            assert ack is not None
            clock.advance(0.6)
            assert wait_for(lambda: ac.state_of("10.0.0.11") is UserState.IDLE)
            late = portal.auth_chap("10.0.0.11", PHONE, OTP, ack)
            assert late is not None and late.err_code == 1
            fresh = portal.challenge("10.0.0.11")
            assert fresh is not None and fresh.get(AttrType.CHALLENGE) != ack.get(AttrType.CHALLENGE)
            clock.advance(0.4)   # still inside the new ttl
            ok = portal.auth_chap("10.0.0.11", PHONE, OTP, fresh)
            assert ok is not None and ok.err_code == 0
        finally:
            portal.close()


def test_logout_and_timeout_notice(sim: tuple[SimulatedAc, MiniPortal]) -> None:
    ac, portal = sim
    assert portal.login_chap("10.0.0.12", PHONE, OTP) is not None
    bye = portal.logout("10.0.0.12")
    assert bye is not None and bye.type == PacketType.ACK_LOGOUT and bye.err_code == 0
    assert "10.0.0.12" not in ac.online()
    assert ac.accounting_log[-1]["Acct-Status-Type"] == 2
    assert ac.accounting_log[-1]["Acct-Terminate-Cause"] == 1          # User-Request
    again = portal.logout("10.0.0.12")
    assert again is not None and again.err_code == 3                   # already offline

    # ErrCode 1 = timeout notice: the AC aborts the pending challenge.
    ack = portal.challenge("10.0.0.13")
    assert ack is not None
    notice = portal.logout("10.0.0.13", err=1, serial=ack.serial_no, req_id=0)
    assert notice is not None and notice.type == PacketType.ACK_LOGOUT and notice.err_code == 0
    assert ac.state_of("10.0.0.13") is UserState.IDLE
    late = portal.auth_chap("10.0.0.13", PHONE, OTP, ack)
    assert late is not None and late.err_code == 1


def test_req_info_answered(sim: tuple[SimulatedAc, MiniPortal]) -> None:
    _ac, portal = sim
    assert portal.login_chap("10.0.0.14", PHONE, OTP) is not None
    info = portal.request(portal.packet(
        PacketType.REQ_INFO, "10.0.0.14", serial_no=portal.serial(),
        attrs=(Attribute(AttrType.PORT, b""), Attribute(AttrType.DOWN_LINK_FLUX, b"")),
    ))
    assert info is not None and info.type == PacketType.ACK_INFO and info.err_code == 0
    assert info.text(AttrType.PORT)
    assert len(info.get(AttrType.DOWN_LINK_FLUX) or b"") == 8


def test_aff_ack_auth_marks_affirmed_and_missing_one_drops_user() -> None:
    clock = FakeClock()
    sink = PortalSink()
    with make(clock=clock, aff_timeout=30.0, ack_auth_retries=2, portal_port=sink.port) as ac:
        portal = MiniPortal(ac.port)
        try:
            ack = portal.challenge("10.0.0.20")
            assert ack is not None
            ok = portal.auth_chap("10.0.0.20", PHONE, OTP, ack)
            assert ok is not None and ok.err_code == 0
            req_auth_raw = portal.last_raw
            # No AFF yet: the AC re-sends ACK_AUTH every 2 s (EAG retry_times).
            clock.advance(2.1)
            resent = portal.receive(req_auth_raw, timeout=2)
            assert resent is not None and resent.type == PacketType.ACK_AUTH and resent.req_id == ok.req_id
            portal.aff("10.0.0.20", ok)
            assert wait_for(lambda: ac.online()["10.0.0.20"].affirmed)
            # A second user never confirms: dropped after aff_timeout with NTF_LOGOUT.
            ack2 = portal.challenge("10.0.0.21")
            assert ack2 is not None
            assert portal.auth_chap("10.0.0.21", PHONE, OTP, ack2) is not None
            clock.advance(31)
            assert wait_for(lambda: "10.0.0.21" not in ac.online())
            assert "10.0.0.20" in ac.online()
            got = sink.receive()
            assert got is not None and got[0].type == PacketType.NTF_LOGOUT and got[0].user_ip == "10.0.0.21"
            assert ac.stats["aff_missing"] == 1
        finally:
            portal.close()
            sink.close()


def test_mac_trigger_sends_0x30_and_waits_for_login() -> None:
    clock = FakeClock()
    sink = PortalSink("h3c")
    with make("h3c", clock=clock, mac_trigger=True, portal_port=sink.port) as ac:
        portal = MiniPortal(ac.port, "h3c")
        try:
            ac.add_user("10.0.0.30", "aa:bb:cc:dd:ee:30")
            got = sink.receive()
            assert got is not None
            query, raw, addr = got
            assert query.type == PacketType.REQ_MACBINDING_INFO
            assert query.get(AttrType.USER_MAC) == bytes.fromhex("aabbccddee30")
            assert ac.state_of("10.0.0.30") is UserState.MAC_QUERY
            sink.answer(query, raw, addr, PacketType.ACK_MACBINDING_INFO, err=0)
            assert wait_for(lambda: ac.state_of("10.0.0.30") is UserState.MAC_WAIT_LOGIN)
            # The MAC-binding server now logs the user in with the stored account.
            assert portal.login_chap("10.0.0.30", PHONE, OTP) is not None
            assert "10.0.0.30" in ac.online()
            logon = sink.receive()
            assert logon is not None and logon[0].type == PacketType.NTF_USER_LOGON

            # Not bound → back to IDLE; bound but no login within mac_login_wait → IDLE.
            ac.add_user("10.0.0.31", "aa:bb:cc:dd:ee:31")
            q2 = sink.receive()
            assert q2 is not None
            sink.answer(q2[0], q2[1], q2[2], PacketType.ACK_MACBINDING_INFO, err=1)
            assert wait_for(lambda: ac.state_of("10.0.0.31") is UserState.IDLE)
            ac.add_user("10.0.0.32", "aa:bb:cc:dd:ee:32")
            q3 = sink.receive()
            assert q3 is not None
            sink.answer(q3[0], q3[1], q3[2], PacketType.ACK_MACBINDING_INFO, err=0)
            assert wait_for(lambda: ac.state_of("10.0.0.32") is UserState.MAC_WAIT_LOGIN)
            clock.advance(5.1)
            assert wait_for(lambda: ac.state_of("10.0.0.32") is UserState.IDLE)
        finally:
            portal.close()
            sink.close()


def test_require_lease_refuses_unknown_ip() -> None:
    with make(require_lease=True) as ac:
        portal = MiniPortal(ac.port)
        try:
            refused = portal.challenge("10.9.9.9")
            assert refused is not None and refused.err_code == 1 and "AC102" in refused.text()
            ac.add_user("10.9.9.9", "aa:bb:cc:dd:ee:99")
            ok = portal.challenge("10.9.9.9")
            assert ok is not None and ok.err_code == 0
        finally:
            portal.close()


def test_user_sync_and_status_notify(sim: tuple[SimulatedAc, MiniPortal]) -> None:
    from ac_adapters.codec import user_list_attr, user_list_from

    _ac, portal = sim
    assert portal.login_chap("10.0.0.40", PHONE, OTP) is not None
    reply = portal.request(portal.packet(
        PacketType.NTF_USER_HEARTBEAT, "0.0.0.0", serial_no=portal.serial(),
        attrs=(user_list_attr(["10.0.0.40", "10.0.0.41"]),),
    ))
    assert reply is not None and reply.type == PacketType.ACK_NTF_USER_HEARTBEAT
    assert user_list_from(reply) == ["10.0.0.41"]
    status = portal.request(portal.packet(PacketType.STATUS_NOTIFY, "0.0.0.0", serial_no=portal.serial()))
    assert status is not None and status.type == PacketType.ACK_STATUS_NOTIFY


@pytest.mark.parametrize(("flavour", "keys"), [
    # Each vendor's own MAC spelling, from its profile (docs/protocols/portal-protocol.md §3).
    ("huawei-v2", {"user-ipaddress": "10.0.0.50", "ac-ip": "127.0.0.1", "user-mac": "aabb-ccdd-ee50"}),
    ("cmcc", {"wlanuserip": "10.0.0.50", "wlanacip": "127.0.0.1", "wlanacname": "citywifi-ac-sim",
              "wlanusermac": "AA-BB-CC-DD-EE-50", "wlanapmac": "001122334455", "ssid": "CityWiFi"}),
    ("h3c", {"userip": "10.0.0.50", "nasip": "127.0.0.1", "usermac": "aa-bb-cc-dd-ee-50"}),
    ("hanming", {"wlanstamac": "AA:BB:CC:DD:EE:50"}),
])
def test_redirect_url(flavour: str, keys: dict[str, str]) -> None:
    ac = make(flavour)
    ac.add_user("10.0.0.50", "AA:BB:CC:DD:EE:50")
    url = ac.redirect_url("10.0.0.50", "http://portal.example:8080/p?venue=7")
    parts = urlsplit(url)
    assert parts.netloc == "portal.example:8080" and parts.path == "/p"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["venue"] == "7"
    for key, value in keys.items():
        assert query[key] == value


def test_missing_username_rejected(sim: tuple[SimulatedAc, MiniPortal]) -> None:
    _ac, portal = sim
    result = portal.request(portal.packet(
        PacketType.REQ_AUTH, "10.0.0.60", pap_chap=1, serial_no=portal.serial(),
        attrs=(Attribute(AttrType.PASSWORD, b"x"),),
    ))
    assert result is not None and result.err_code == 1


def test_unknown_response_type_is_dropped(sim: tuple[SimulatedAc, MiniPortal]) -> None:
    ac, portal = sim
    stray = PortalPacket(type=PacketType.ACK_NTF_LOGOUT, version=2, serial_no=9, user_ip="10.0.0.1",
                         attrs=(text_attr(AttrType.TEXT_INFO, "x"),))
    portal.sock.sendto(portal.encode(PortalPacket(type=PacketType.NTF_LOGOUT, version=2)), portal.ac)
    from ac_adapters.codec import encode

    portal.sock.sendto(encode(stray, header=32, secret=b"testing123", request_authenticator=bytes(16)),
                       portal.ac)
    assert wait_for(lambda: ac.stats["dropped"] == 2)
    assert ac.stats["dropped_unexpected"] == 1 and ac.stats["dropped_unmatched"] == 1


@pytest.mark.parametrize("learned", [True, False])
def test_learned_macs_report_the_layer2_mac_whatever_the_portal_names(learned: bool) -> None:
    """``learned_macs``: the AC reports the MAC it knows for the IP (add_user, else one derived
    from the IP), never the one in the portal's packet; without it a lease first seen in a
    portal request takes that request's MAC (an AC echoing the redirect's MAC)."""
    with make(learned_macs=learned) as ac:
        portal = MiniPortal(ac.port)
        try:
            ac.add_user("10.1.0.7", "02:00:00:00:00:07")
            for ip in ("10.1.0.7", "10.1.0.8"):             # associated / first seen in the request
                ack = portal.login_chap(ip, PHONE, OTP, mac="aa:bb:cc:dd:ee:ff")
                assert ack is not None and ack.err_code == 0
            online = ac.online()
            assert online["10.1.0.7"].mac == "02:00:00:00:00:07"      # known at layer 2: always
            assert online["10.1.0.8"].mac == ("02:00:0a:01:00:08" if learned else "aa:bb:cc:dd:ee:ff")
            assert ac.stats["portal_mac_ignored"] >= (2 if learned else 1)
        finally:
            portal.close()
