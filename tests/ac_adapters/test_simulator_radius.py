"""RADIUS side of the AC simulator: Access-Request contents, accounting, timeouts, NTF_LOGOUT
retries, and RFC 5176 Disconnect/CoA driven by Debian's ``radclient``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from ac_adapters.constants import AttrType, PacketType
from ac_adapters.simulator import SimConfig, SimulatedAc
from tests.ac_adapters.sim_portal import FakeClock, MiniPortal, PortalSink, RadiusPeer, wait_for

PHONE, OTP = "13800138000", "654321"
MAC = "aa:bb:cc:dd:ee:01"


def make(peer: RadiusPeer, sink: PortalSink | None = None, clock: FakeClock | None = None,
         flavour: str = "huawei-v2", **kw: object) -> SimulatedAc:
    cfg = SimConfig(
        flavour=flavour, radius_host="127.0.0.1", radius_auth_port=peer.auth_port,
        radius_acct_port=peer.acct_port, radius_secret=peer.secret, tick=0.01,
        portal_port=sink.port if sink else 9, ntf_retry_interval=2.0, ntf_retries=3,
        **kw,  # type: ignore[arg-type]
    )
    return SimulatedAc(cfg, clock=clock or FakeClock()).start()


@pytest.fixture
def peer() -> Iterator[RadiusPeer]:
    server = RadiusPeer(
        users={PHONE: OTP},
        reply={"Session-Timeout": 5, "Acct-Interim-Interval": 60, "Class": b"plan-7",
               "Huawei-Input-Average-Rate": 2_000_000, "WISPr-Bandwidth-Max-Down": 8_000_000},
    )
    try:
        yield server
    finally:
        server.close()


def test_access_request_contents_and_accounting(peer: RadiusPeer) -> None:
    clock = FakeClock()
    ac = make(peer, clock=clock, counters_start=5 * 2**32 + 123)
    portal = MiniPortal(ac.port)
    try:
        ack = portal.challenge("10.2.0.1", mac=MAC)
        assert ack is not None
        result = portal.auth_chap("10.2.0.1", PHONE, OTP, ack, mac=MAC)
        assert result is not None and result.err_code == 0, result
        req = peer.auth_requests[-1]
        assert req["User-Name"] == [PHONE]
        chap = req["CHAP-Password"][0]
        assert len(chap) == 17 and chap[0] == ack.req_id & 0xFF
        assert req["CHAP-Challenge"] == [ack.get(AttrType.CHALLENGE)]
        assert req["NAS-IP-Address"] == ["127.0.0.1"]
        assert req["NAS-Identifier"] == ["citywifi-ac-sim"]
        assert req["Calling-Station-Id"] == ["AA-BB-CC-DD-EE-01"]
        assert req["Called-Station-Id"] == ["00-11-22-33-44-55:CityWiFi"]
        assert req["Framed-IP-Address"] == ["10.2.0.1"]
        assert "Message-Authenticator" in req
        user = ac.online()["10.2.0.1"]
        assert user.session_timeout == 5 and user.interim_interval == 60
        assert user.rates == {"Huawei-Input-Average-Rate": 2_000_000, "WISPr-Bandwidth-Max-Down": 8_000_000}
        assert wait_for(lambda: peer.acct_status() == [1])
        start = peer.acct_requests[0]
        assert start["Class"] == [b"plan-7"]
        assert start["Acct-Session-Id"] == req["Acct-Session-Id"]

        # PAP goes out as User-Password, decryptable with the shared secret.
        pap = portal.auth_pap("10.2.0.2", PHONE, OTP)
        assert pap is not None and pap.err_code == 0
        assert peer.auth_requests[-1].PwDecrypt(peer.auth_requests[-1]["User-Password"][0]) == OTP
        assert "CHAP-Password" not in peer.auth_requests[-1]
    finally:
        portal.close()
        ac.stop(wait=0.5)


def test_interim_counters_grow_with_gigawords(peer: RadiusPeer) -> None:
    peer.reply["Session-Timeout"] = 3600
    clock = FakeClock()
    ac = make(peer, clock=clock, counters_start=2**32 - 1000, traffic_rate=1_000_000.0)
    portal = MiniPortal(ac.port)
    try:
        assert portal.login_chap("10.2.0.3", PHONE, OTP) is not None
        clock.advance(61)
        assert wait_for(lambda: peer.acct_status() == [1, 3])
        clock.advance(60)
        assert wait_for(lambda: peer.acct_status() == [1, 3, 3])
        first, second = peer.acct_requests[1], peer.acct_requests[2]

        def total(p: object, kind: str) -> int:
            return int(p[f"Acct-{kind}-Gigawords"][0]) * 2**32 + int(p[f"Acct-{kind}-Octets"][0])  # type: ignore[index]

        assert first["Acct-Output-Gigawords"] == [1]
        assert total(second, "Output") > total(first, "Output") > 2**32
        assert total(second, "Input") > total(first, "Input")
        assert int(second["Acct-Session-Time"][0]) >= 120
        assert second["Class"] == [b"plan-7"]
    finally:
        portal.close()
        ac.stop(wait=0.5)


@pytest.mark.parametrize(("flavour", "right", "wrong"), [
    ("huawei-v2", PacketType.ACK_NTF_LOGOUT, PacketType.ACK_LOGOUT),
    ("cmcc", PacketType.ACK_LOGOUT, PacketType.ACK_NTF_LOGOUT),
])
def test_session_timeout_stop_and_ntf_logout_retries(
    peer: RadiusPeer, flavour: str, right: PacketType, wrong: PacketType
) -> None:
    clock = FakeClock()
    sink = PortalSink(flavour)
    ac = make(peer, sink, clock, flavour=flavour)
    portal = MiniPortal(ac.port, flavour)
    try:
        assert portal.login_chap("10.2.0.4", PHONE, OTP) is not None
        clock.advance(5.1)                                   # Session-Timeout = 5
        assert wait_for(lambda: "10.2.0.4" not in ac.online())
        assert wait_for(lambda: peer.acct_status() == [1, 2])
        assert peer.acct_requests[-1]["Acct-Terminate-Cause"] == [5]     # Session-Timeout
        got = sink.receive()
        assert got is not None
        ntf, _raw, addr = got
        assert ntf.type == PacketType.NTF_LOGOUT and ntf.user_ip == "10.2.0.4"
        assert addr[1] == ac.port                            # from the AC's portal port
        assert sink.receive(timeout=0.3) is None             # no retry before the interval
        clock.advance(2.05)
        again = sink.receive()
        assert again is not None and again[0].serial_no == ntf.serial_no
        sink.answer(again[0], again[1], again[2], wrong)     # wrong reply type for this flavour
        clock.advance(2.05)
        third = sink.receive()
        assert third is not None and third[0].serial_no == ntf.serial_no
        sink.answer(third[0], third[1], third[2], right)
        assert wait_for(lambda: ac.ntf_outstanding() == 0)
        clock.advance(10)
        assert sink.receive(timeout=0.3) is None
        assert ac.stats["ntf_logout_acked"] == 1
    finally:
        portal.close()
        sink.close()
        ac.stop(wait=0.5)


def test_ntf_logout_gives_up_after_retries(peer: RadiusPeer) -> None:
    clock = FakeClock()
    sink = PortalSink()
    ac = make(peer, sink, clock)
    portal = MiniPortal(ac.port)
    try:
        assert portal.login_chap("10.2.0.5", PHONE, OTP) is not None
        assert ac.kick("10.2.0.5")
        for _ in range(3):
            assert sink.receive() is not None
            clock.advance(2.05)
        assert wait_for(lambda: ac.stats["ntf_logout_unanswered"] == 1)
        assert sink.receive(timeout=0.3) is None
        assert peer.acct_requests[-1]["Acct-Terminate-Cause"] == [6]     # Admin-Reset
    finally:
        portal.close()
        sink.close()
        ac.stop(wait=0.5)


def test_idle_timeout(peer: RadiusPeer) -> None:
    peer.reply.update({"Session-Timeout": 3600, "Idle-Timeout": 30})
    clock = FakeClock()
    ac = make(peer, clock=clock)
    portal = MiniPortal(ac.port)
    try:
        assert portal.login_chap("10.2.0.6", PHONE, OTP) is not None
        clock.advance(40)                                    # active: no idle logout
        assert "10.2.0.6" in ac.online()
        ac.set_active("10.2.0.6", False)
        clock.advance(31)
        assert wait_for(lambda: "10.2.0.6" not in ac.online())
        assert wait_for(lambda: peer.acct_status()[-1] == 2)
        assert peer.acct_requests[-1]["Acct-Terminate-Cause"] == [4]
    finally:
        portal.close()
        ac.stop(wait=0.5)


def test_radius_reject_and_timeout() -> None:
    silent = RadiusPeer(users={PHONE: OTP}, silent=True)
    talking = RadiusPeer(users={PHONE: OTP})
    try:
        ac = make(talking)
        portal = MiniPortal(ac.port)
        ack = portal.challenge("10.2.0.7")
        assert ack is not None
        bad = portal.auth_chap("10.2.0.7", PHONE, "000000", ack)
        assert bad is not None and bad.err_code == 1 and "wrong password" in bad.text()
        portal.close()
        ac.stop(wait=0.5)

        ac = SimulatedAc(SimConfig(radius_auth_port=silent.auth_port, radius_acct_port=silent.acct_port,
                                   radius_timeout=0.2, radius_retries=2, coa_port=None)).start()
        portal = MiniPortal(ac.port)
        ack = portal.challenge("10.2.0.8")
        assert ack is not None
        late = portal.auth_chap("10.2.0.8", PHONE, OTP, ack)
        assert late is not None and late.err_code == 4 and "AC201" in late.text()
        assert len(silent.auth_requests) == 2                # one retransmission
        first, second = silent.auth_requests
        assert first["Message-Authenticator"] == second["Message-Authenticator"]   # a true retransmission
        portal.close()
        ac.stop(wait=0.1)
    finally:
        silent.close()
        talking.close()


# --- RFC 5176 with Debian's radclient ----------------------------------------------------------

RADCLIENT = shutil.which("radclient")
needs_radclient = pytest.mark.skipif(RADCLIENT is None, reason="radclient not installed")


def radclient(port: int, kind: str, secret: str, attrs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RADCLIENT or "radclient", "-x", "-r", "1", "-t", "1", f"127.0.0.1:{port}", kind, secret],
        input=attrs + "\n", capture_output=True, text=True, timeout=20,
    )


@needs_radclient
@pytest.mark.needs_radclient
def test_disconnect_coa_and_nak_with_radclient(peer: RadiusPeer) -> None:
    peer.reply["Session-Timeout"] = 3600
    clock = FakeClock()
    sink = PortalSink()
    ac = make(peer, sink, clock)
    assert ac.coa_port is not None
    portal = MiniPortal(ac.port)
    try:
        assert portal.login_chap("10.2.0.9", PHONE, OTP, mac=MAC) is not None
        assert portal.login_chap("10.2.0.10", PHONE, OTP) is not None
        sid = ac.online()["10.2.0.9"].session_id

        coa = radclient(ac.coa_port, "coa", "testing123",
                        f'User-Name = "{PHONE}", Framed-IP-Address = 10.2.0.10, Session-Timeout = 120')
        assert "CoA-ACK" in coa.stdout, coa.stdout + coa.stderr
        assert ac.online()["10.2.0.10"].session_timeout == 120
        clock.advance(121)
        assert wait_for(lambda: "10.2.0.10" not in ac.online())      # the new timeout applies

        unknown = radclient(ac.coa_port, "disconnect", "testing123",
                            'User-Name = "nobody", Acct-Session-Id = "nope"')
        assert "Disconnect-NAK" in unknown.stdout and "Session-Context-Not-Found" in unknown.stdout

        forged = radclient(ac.coa_port, "disconnect", "not-the-secret",
                           f'User-Name = "{PHONE}", Acct-Session-Id = "{sid}"')
        assert forged.returncode != 0 and "Disconnect-ACK" not in forged.stdout
        assert ac.stats["dm_dropped_bad_auth"] == 1 and "10.2.0.9" in ac.online()

        dm = radclient(ac.coa_port, "disconnect", "testing123",
                       f'User-Name = "{PHONE}", Framed-IP-Address = 10.2.0.9, Acct-Session-Id = "{sid}", '
                       "Message-Authenticator = 0x00")
        assert "Disconnect-ACK" in dm.stdout, dm.stdout + dm.stderr
        assert "10.2.0.9" not in ac.online()
        def stops() -> list[object]:
            return [p for p in peer.acct_requests
                    if p["Acct-Session-Id"] == [sid] and p["Acct-Status-Type"] == [2]]

        assert wait_for(lambda: len(stops()) == 1)
        stop = stops()[0]
        assert stop["Acct-Terminate-Cause"] == [6]  # type: ignore[index]
        ips = set()
        while (got := sink.receive(timeout=1)) is not None:
            ips.add(got[0].user_ip)
        assert "10.2.0.9" in ips
    finally:
        portal.close()
        sink.close()
        ac.stop(wait=0.5)
