"""Loopback tests of the UDP portal client against the fake AC (tests/fakes/portal_ac.py)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from ac_adapters.client import AcEndpoint, ClientClosed, LoginResult, PortalClient
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.errors import PortalError
from ac_adapters.profiles import PROFILES
from ac_adapters.serials import SerialAllocator, SerialsExhausted
from tests.fakes.portal_ac import FakePortalAc, Received, fake_ac

SECRET = b"s3cret-key"
USERS = {"13300000001": "123456", "13300000002": "654321"}


@pytest.fixture
def client() -> Iterator[PortalClient]:
    c = PortalClient(source_host="127.0.0.1")
    try:
        yield c
    finally:
        c.close()


def endpoint(ac: FakePortalAc, flavour: str = "huawei-v2", **kw: object) -> AcEndpoint:
    opts: dict = {"timeout": 2.0, "retries": 3, "secret": SECRET, "bas_ip": "127.0.0.1"}
    opts.update(kw)
    return AcEndpoint("127.0.0.1", ac.port, profile=PROFILES[flavour], **opts)


def serials(received: list[Received]) -> set[int]:
    return {r.packet.serial_no for r in received}


@pytest.mark.parametrize(("flavour", "mac_attr"), [
    ("huawei-v2", AttrType.USER_MAC), ("huawei-v1", AttrType.USER_MAC), ("h3c", AttrType.USER_MAC),
    ("cmcc", None), ("hanming", AttrType.HANMING_MAC),
])
def test_login_info_logout_per_flavour(client: PortalClient, flavour: str, mac_attr: int | None) -> None:
    with fake_ac(flavour, secret=SECRET, users=dict(USERS)) as ac:
        assert ac.reply_port != ac.port            # the AC answers from a port of its choosing
        ep = endpoint(ac, flavour)
        res = client.login(ep, "10.0.0.5", "13300000001", "123456", mac="aa:bb:cc:00:00:05")
        assert res.ok and res.err_code == 0 and not res.timed_out and res.stage == "done"
        assert res.text == "welcome 13300000001" and set(res.timings) == {"challenge", "auth", "total"}
        assert ac.online == {"10.0.0.5": "13300000001"}
        assert ac.wait_for(lambda rs: any(r.packet.type == PacketType.AFF_ACK_AUTH for r in rs))
        (chal,) = ac.of_type(PacketType.REQ_CHALLENGE)
        (auth,) = ac.of_type(PacketType.REQ_AUTH)
        (aff,) = ac.of_type(PacketType.AFF_ACK_AUTH)
        assert chal.packet.serial_no == auth.packet.serial_no == aff.packet.serial_no
        assert auth.packet.req_id == aff.packet.req_id == res.req_id != 0
        for r in (chal, auth, aff):
            assert r.packet.version == PROFILES[flavour].version
            if mac_attr is None:
                assert r.packet.get(AttrType.USER_MAC) is None
            else:
                assert r.packet.get(mac_attr) == bytes.fromhex("aabbcc000005")
        info = client.info(ep, "10.0.0.5")
        assert info.ok and info.port == "fake-ac-vlan-0001" and (info.up_kbytes, info.down_kbytes) == (10, 20)
        out = client.logout(ep, "10.0.0.5", mac="aa:bb:cc:00:00:05")
        assert out.ok and out.err_code == 0 and ac.online == {}
        (logout,) = ac.of_type(PacketType.REQ_LOGOUT)
        assert logout.packet.err_code == 0 and logout.packet.serial_no != chal.packet.serial_no
        again = client.logout(ep, "10.0.0.5")
        assert again.ok and again.already_offline and again.err_code == 3
    assert client.stats["bad_authenticator"] == 0 and client.stats["logins_ok"] == 1


def test_wrong_password_is_rejected_with_text_and_no_aff(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        res = client.login(endpoint(ac), "10.0.0.6", "13300000001", "wrong")
        assert not res.ok and res.err_code == 1 and res.stage == "auth" and not res.timed_out
        assert "bad password" in res.text and "rejected" in res.diagnostic
        assert ac.online == {} and ac.of_type(PacketType.AFF_ACK_AUTH) == []


def test_pap_login_uses_reqid_from_ack_auth(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        res = client.login(endpoint(ac), "10.0.0.7", "13300000002", "654321", pap=True)
        assert res.ok and ac.of_type(PacketType.REQ_CHALLENGE) == []
        (auth,) = ac.of_type(PacketType.REQ_AUTH)
        assert auth.packet.pap_chap == 1 and auth.packet.req_id == 0
        assert ac.wait_for(lambda rs: any(r.packet.type == PacketType.AFF_ACK_AUTH for r in rs))
        (aff,) = ac.of_type(PacketType.AFF_ACK_AUTH)
        assert aff.packet.req_id == res.req_id != 0 and aff.packet.pap_chap == 1


def test_dropped_replies_are_retransmitted_with_the_same_serial(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        ac.faults.drop_replies = 2
        res = client.login(endpoint(ac, timeout=0.3, retries=3), "10.0.0.8", "13300000001", "123456")
        assert res.ok, res.diagnostic
        chals = ac.of_type(PacketType.REQ_CHALLENGE)
        assert len(chals) == 3 and len(serials(chals)) == 1
        assert len({r.raw for r in chals}) == 1            # identical bytes on retransmission
        assert client.stats["retransmitted"] >= 2 and res.timings["challenge"] >= 0.6


def test_dropped_ack_auth_is_recovered(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        ac.faults.drop_replies_of = {PacketType.ACK_AUTH: 1}
        res = client.login(endpoint(ac, timeout=0.3, retries=3), "10.0.0.9", "13300000001", "123456")
        assert res.ok and res.err_code == 0, res.diagnostic
        auths = ac.of_type(PacketType.REQ_AUTH)
        assert len(auths) == 2 and len(serials(auths)) == 1 and ac.stats["duplicates"] == 1


def test_silent_ac_times_out_with_diagnostic_and_timeout_notice(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        ac.faults.silent = True
        res = client.login(endpoint(ac, timeout=0.2, retries=3), "10.0.0.10", "13300000001", "123456")
        assert res.timed_out and not res.ok and res.err_code is None and res.stage == "challenge"
        assert "wrong shared secret" in res.diagnostic and "header form" in res.diagnostic
        assert f"127.0.0.1:{ac.port}" in res.diagnostic and client.stats["timeouts"] == 1
        assert res.message_zh and res.message_en
        assert ac.wait_for(lambda rs: any(r.packet.type == PacketType.REQ_LOGOUT for r in rs))
        chals = ac.of_type(PacketType.REQ_CHALLENGE)
        (notice,) = ac.of_type(PacketType.REQ_LOGOUT)
        assert len(chals) == 3
        assert notice.packet.err_code == 1 and notice.packet.req_id == 0
        assert notice.packet.serial_no == chals[0].packet.serial_no


def test_auth_timeout_notice_carries_the_reqid(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        ac.faults.ignore_types = frozenset({PacketType.REQ_AUTH})
        res = client.login(endpoint(ac, timeout=0.2, retries=2), "10.0.0.11", "13300000001", "123456")
        assert res.timed_out and res.stage == "auth" and "REQ_AUTH" in res.diagnostic
        assert ac.wait_for(lambda rs: any(r.packet.type == PacketType.REQ_LOGOUT for r in rs))
        (notice,) = ac.of_type(PacketType.REQ_LOGOUT)
        auths = ac.of_type(PacketType.REQ_AUTH)
        assert len(auths) == 2
        assert notice.packet.err_code == 1 and notice.packet.req_id == auths[0].packet.req_id == res.req_id
        assert notice.packet.serial_no == auths[0].packet.serial_no
        assert ac.stats["timeout_notices"] == 1


def test_wrong_reply_authenticator_is_dropped_and_counted(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        ac.faults.wrong_authenticator = True
        res = client.login(endpoint(ac, timeout=0.2, retries=2), "10.0.0.12", "13300000001", "123456")
        assert res.timed_out and not res.ok
        assert client.stats["bad_authenticator"] == 2
        assert "authenticator did not verify" in res.diagnostic and "shared secret" in res.diagnostic


def test_wrong_secret_is_dropped_silently_by_the_ac(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        res = client.login(endpoint(ac, timeout=0.2, retries=2, secret=b"other"), "10.0.0.13",
                           "13300000001", "123456")
        assert res.timed_out and "wrong shared secret" in res.diagnostic
        assert ac.stats["dropped_bad_auth"] >= 2 and ac.received == []


def test_reply_in_the_other_header_form_is_diagnosed(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        ac.faults.wrong_header_form = True
        res = client.login(endpoint(ac, timeout=0.2, retries=1), "10.0.0.14", "13300000001", "123456")
        assert res.timed_out and client.stats["wrong_header_form"] == 1
        assert "other header form" in res.diagnostic


def test_already_online_on_challenge_is_success_without_auth(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        ep = endpoint(ac)
        assert client.login(ep, "10.0.0.15", "13300000001", "123456").ok
        res = client.login(ep, "10.0.0.15", "13300000001", "123456")
        assert res.ok and res.already_online and res.err_code == 2
        assert len(ac.of_type(PacketType.REQ_AUTH)) == 1 and len(ac.of_type(PacketType.REQ_CHALLENGE)) == 2


def test_already_online_on_auth_is_success_and_confirmed(client: PortalClient) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        ac.faults.auth_err = (2, "")
        res = client.login(endpoint(ac), "10.0.0.16", "13300000001", "123456")
        assert res.ok and res.already_online and res.err_code == 2
        assert ac.wait_for(lambda rs: any(r.packet.type == PacketType.AFF_ACK_AUTH for r in rs))


@pytest.mark.parametrize(("stage", "err"), [("challenge", 1), ("challenge", 3), ("auth", 1), ("auth", 4)])
def test_rejections_carry_the_ac_text(client: PortalClient, stage: str, err: int) -> None:
    with fake_ac(secret=SECRET, users=dict(USERS)) as ac:
        if stage == "challenge":
            ac.faults.challenge_err = (err, "AC102")
        else:
            ac.faults.auth_err = (err, "套餐已用完")
        res = client.login(endpoint(ac), "10.0.0.17", "13300000001", "123456")
        assert not res.ok and res.err_code == err and res.stage == stage
        assert res.text == ("AC102" if stage == "challenge" else "套餐已用完")
        assert f"ErrCode {err}" in res.diagnostic


def test_unmatched_and_short_datagrams_are_counted(client: PortalClient) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stray:
        stray.sendto(b"\x02\x02\x00\x00\x12\x34" + bytes(26), client.address)
        stray.sendto(b"junk", client.address)
        for _ in range(200):
            s = client.stats
            if s.get("unmatched") == 1 and s.get("malformed") == 1:
                break
            threading.Event().wait(0.01)
        assert client.stats["unmatched"] == 1 and client.stats["malformed"] == 1


def test_200_concurrent_logins_through_one_client(client: PortalClient) -> None:
    users = {f"1330000{i:04d}": f"pw{i}" for i in range(200)}
    with fake_ac(secret=SECRET, users=users) as ac:
        ep = endpoint(ac, timeout=5.0, retries=3)
        names = list(users)

        def one(i: int) -> LoginResult:
            return client.login(ep, f"10.1.{i // 250}.{i % 250 + 1}", names[i], users[names[i]])

        with ThreadPoolExecutor(max_workers=200) as pool:
            results = list(pool.map(one, range(200)))
        assert all(r.ok for r in results), [r.diagnostic for r in results if not r.ok][:3]
        for i, r in enumerate(results):       # no crossed results: the AC's text names the user
            assert r.text == f"welcome {names[i]}"
        assert ac.online == {f"10.1.{i // 250}.{i % 250 + 1}": names[i] for i in range(200)}
        assert len({r.req_id for r in results}) == 200
        assert client.stats["bad_authenticator"] == 0


def test_closed_client_refuses(client: PortalClient) -> None:
    client.close()
    client.close()
    with pytest.raises(ClientClosed):
        client.login(AcEndpoint("127.0.0.1", 9), "10.0.0.1", "u", "p")


def test_serial_allocator_unique_skips_zero_and_wraps() -> None:
    alloc = SerialAllocator(start=0xFFFE)
    assert [alloc.allocate() for _ in range(3)] == [0xFFFE, 0xFFFF, 1]
    alloc.release(0xFFFF)
    assert alloc.in_use() == 2
    many = SerialAllocator()
    got: list[int] = []
    lock = threading.Lock()

    def grab() -> None:
        mine = [many.allocate() for _ in range(500)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == 4000 and 0 not in got


def test_serial_allocator_exhaustion_and_reuse() -> None:
    alloc = SerialAllocator(start=1)
    taken = [alloc.allocate() for _ in range(0xFFFF)]
    assert sorted(taken) == list(range(1, 0x10000))
    with pytest.raises(SerialsExhausted):
        alloc.allocate()
    alloc.release(777)
    assert alloc.allocate() == 777


def test_client_refuses_use_in_another_process(client: PortalClient) -> None:
    # A real fork: the child inherits the parent's client (sockets, serials, receiver state)
    # and must refuse to use it. The child reports by exit status: 0 refused as expected.
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 3
        try:
            client.login(AcEndpoint("127.0.0.1", 9), "10.0.0.1", "u", "p")
            status = 1
        except PortalError as exc:
            status = 0 if "after fork" in str(exc) else 2
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
