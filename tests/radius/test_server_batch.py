"""Batched Access-Request handling: what one socket drain decides in one Redis round trip.

Mixed batches (accept, reject, token reuse, CHAP, MAC authentication, duplicates, bad
Message-Authenticator) must be answered exactly as one-at-a-time handling would; Redis failing at
any point of a batch leaves every request of it unanswered (and retryable); a burst over real
sockets and over `--workers 2` from one source port is decided correctly and spread over both
workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrad.packet import AccessAccept, AccessReject

from portal.aaa.acs import AcRegistry
from portal.aaa.blocklist import Blocklist
from portal.aaa.credentials import CredentialStore
from portal.aaa.grants import _next_midnight
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.usage import UsageBook, next_midnight
from portal.commands.radius import build_server
from portal.runtime.settings import RadiusSettings, RedisSettings, Settings
from portal.state import keys
from radius.accounting import AccountingProcessor
from radius.auth import AuthPolicy
from radius.resp import RespClient
from radius.server import AUTH, RadiusServer
from tests.conftest import free_tcp_port, free_udp_port
from tests.radius.serverkit import (
    CLASS_KEY,
    MAC,
    PHONE,
    SECRET,
    access_request,
    acct_request,
    decode_reply,
    exchange,
    register,
    running_server,
    signed_class,
)
from tests.radius.test_server_workers import start, wait_alive

ADDR = ("127.0.0.1", 40001)
PHONE2, MAC2 = "13900139000", "aa-bb-cc-dd-ee-02"


@pytest.fixture
def server(redis_client: Any, redis_url: str) -> Iterator[RadiusServer]:
    register(redis_client, mac_auth=True)
    settings = Settings(redis=RedisSettings(url=redis_url),
                        radius=RadiusSettings(ac_cache_ttl=0.0, class_key=CLASS_KEY))
    srv = build_server(settings, reaper=False)
    assert isinstance(srv.auth_handler, AuthPolicy) and srv.auth_handler.fast is not None
    # Accounting batches go through their own RespClient (radius.resp.RespPipeline).
    assert isinstance(srv.acct_handler, AccountingProcessor) and srv.acct_handler.fast is not None
    try:
        yield srv
    finally:
        srv.close()
        srv.auth_handler.fast.close()
        srv.acct_handler.fast.close()


def chap_request(user: str, secret: bytes, calling: str | None = None) -> Any:
    challenge = b"fedcba9876543210"
    extra: dict[str, Any] = {"Calling_Station_Id": calling} if calling else {}
    pkt = access_request(User_Name=user, CHAP_Challenge=challenge, **extra)
    pkt["CHAP-Password"] = b"\x07" + hashlib.md5(b"\x07" + secret + challenge).digest()
    return pkt


def code_of(req: Any, raw: bytes | None) -> int | None:
    return None if raw is None else decode_reply(req, raw).code


def test_mixed_batch_is_decided_like_single_requests(server: RadiusServer, redis_client: Any) -> None:
    store = CredentialStore(redis_client)
    bound = store.bind_mac(MAC, PHONE, days=3)
    store.bind_mac(MAC2, PHONE2, days=3)
    token = store.mint_login_token(PHONE2)
    chap_token = store.mint_login_token(PHONE)
    stolen = store.bind_mac("aa-bb-cc-dd-ee-99", PHONE, days=3)
    Blocklist(redis_client).block("mac", "aa-bb-cc-dd-ee-99", "stolen")
    reqs = {
        "accept": access_request(User_Name=PHONE, password=bound.password, Calling_Station_Id=MAC),
        "wrong": access_request(User_Name=PHONE, password="nope", Calling_Station_Id=MAC),
        "token": access_request(User_Name=PHONE2, password=token.password),
        "token_again": access_request(User_Name=PHONE2, password=token.password),
        "chap_mac": chap_request(PHONE, bound.password.encode(), MAC),
        "chap_token": chap_request(PHONE, chap_token.password.encode()),
        "mac_auth": access_request(User_Name=MAC2, password=MAC2, Calling_Station_Id=MAC2),
        "blocked_mac": access_request(User_Name=PHONE, password=stolen.password,
                                      Calling_Station_Id="aa-bb-cc-dd-ee-99"),
        "not_a_phone": access_request(User_Name="nobody", password="x"),
        "bad_ma": access_request(secret="not-the-secret", User_Name=PHONE, password=bound.password,
                                 Calling_Station_Id=MAC),
    }
    datagrams = [(r.RequestPacket(), ADDR) for r in reqs.values()]
    # The first request again (a retransmission while the original is in the same batch).
    datagrams.append(datagrams[0])
    replies = server.handle_batch(datagrams, AUTH)
    codes = {name: code_of(req, raw) for (name, req), raw in zip(reqs.items(), replies, strict=False)}
    assert codes == {
        "accept": AccessAccept, "wrong": AccessReject, "token": AccessAccept,
        "token_again": AccessReject, "chap_mac": AccessAccept, "chap_token": AccessAccept,
        "mac_auth": AccessAccept, "blocked_mac": AccessReject, "not_a_phone": AccessReject,
        "bad_ma": None,
    }
    assert replies[-1] is None                               # in progress → dropped (RFC 5080)
    m = server.metrics
    assert m.get("auth.accept") == 5 and m.get("auth.reject") == 4
    assert m.get("reject.invalid_credential") == 2
    assert m.get("reject.reused_credential") == 1
    assert m.get("reject.blocked") == 1
    assert m.get("drop.bad_message_authenticator") == 1
    assert m.get("drop.duplicate_in_progress") == 1
    # Each decision carries its own phone (no row of the batch answers another request).
    for name, phone in (("accept", PHONE), ("token", PHONE2), ("mac_auth", PHONE2), ("chap_token", PHONE)):
        raw = replies[list(reqs).index(name)]
        assert raw is not None
        reply = decode_reply(reqs[name], raw)
        assert reply["Class"][0].startswith(b"cw2|" + phone.encode() + b"|")
    # The CHAP token was consumed; a later retransmission of the batch is answered from the cache.
    assert redis_client.hlen(keys.login_tokens(PHONE)) == 0
    again = server.handle_batch(datagrams[:3], AUTH)
    assert again == replies[:3]
    assert m.get("duplicate.replayed") == 3


def test_token_checks_in_a_batch_spend_only_what_they_accept(server: RadiusServer,
                                                             redis_client: Any) -> None:
    """Reads come first and a token is spent by CONSUME_LUA afterwards: a token presented from
    the wrong device is refused and stays unspent; the same token from its own device is then
    accepted once, and its binding fallback still works when a token check fails."""
    store = CredentialStore(redis_client)
    token = store.mint_login_token(PHONE2, mac=MAC2)
    bound = store.bind_mac(MAC, PHONE, days=3)
    wrong_device = access_request(User_Name=PHONE2, password=token.password, Calling_Station_Id=MAC)
    assert code_of(wrong_device, server.handle_batch(
        [(wrong_device.RequestPacket(), ADDR), (wrong_device.RequestPacket(), ("127.0.0.1", 40002))],
        AUTH)[0]) == AccessReject
    assert redis_client.hexists(keys.login_tokens(PHONE2), token.password)   # not spent
    right = access_request(User_Name=PHONE2, password=token.password, Calling_Station_Id=MAC2)
    binding = access_request(User_Name=PHONE, password=bound.password, Calling_Station_Id=MAC)
    replies = server.handle_batch([(right.RequestPacket(), ADDR), (binding.RequestPacket(), ADDR)], AUTH)
    assert [code_of(right, replies[0]), code_of(binding, replies[1])] == [AccessAccept, AccessAccept]
    assert not redis_client.hexists(keys.login_tokens(PHONE2), token.password)
    assert redis_client.hexists(keys.login_tokens_used(PHONE2), token.password)
    # Spent: another device is told "reused"; its own device (the AC asking again, e.g. after
    # a lost Accept) gets the first Accept repeated within radius.token_replay_window.
    other = access_request(User_Name=PHONE2, password=token.password, Calling_Station_Id=MAC)
    assert code_of(other, server.handle_batch([(other.RequestPacket(), ADDR)], AUTH)[0]) == AccessReject
    assert server.metrics.get("reject.reused_credential") == 1
    again = access_request(User_Name=PHONE2, password=token.password, Calling_Station_Id=MAC2)
    assert code_of(again, server.handle_batch([(again.RequestPacket(), ADDR)], AUTH)[0]) == AccessAccept
    assert server.metrics.get("token_replay") == 1


def test_one_unreadable_phone_does_not_silence_the_batch(server: RadiusServer, redis_client: Any) -> None:
    """An error reply to one request's reads (a usage key of the wrong type) leaves that request
    unanswered — the AC retries — and the rest of the batch is decided as usual."""
    store = CredentialStore(redis_client)
    bound = store.bind_mac(MAC, PHONE, days=3)
    other = store.bind_mac(MAC2, PHONE2, days=3)
    redis_client.set(keys.usage(PHONE2), "not a hash")
    good = access_request(User_Name=PHONE, password=bound.password, Calling_Station_Id=MAC)
    bad = access_request(User_Name=PHONE2, password=other.password, Calling_Station_Id=MAC2)
    replies = server.handle_batch([(bad.RequestPacket(), ADDR), (good.RequestPacket(), ADDR)], AUTH)
    assert replies[0] is None and code_of(good, replies[1]) == AccessAccept
    assert server.metrics.get("drop.state_unavailable") == 1


def test_a_failed_token_spend_silences_only_its_own_request(server: RadiusServer,
                                                             redis_client: Any) -> None:
    """Tokens of a batch are spent in one pipeline: when one spend fails (a corrupt token
    value makes CONSUME_LUA error), the other requests, whose tokens are spent by then, are
    still answered — a silent server would make the AC's retry a "reused" reject."""
    tok = CredentialStore(redis_client).mint_login_token(PHONE2)
    redis_client.hset(keys.login_tokens(PHONE), "junk-token-value", "no-separator")
    good = access_request(User_Name=PHONE2, password=tok.password)
    bad = access_request(User_Name=PHONE, password="junk-token-value")
    replies = server.handle_batch([(good.RequestPacket(), ADDR), (bad.RequestPacket(), ADDR)], AUTH)
    assert code_of(good, replies[0]) == AccessAccept and replies[1] is None
    assert redis_client.hexists(keys.login_tokens_used(PHONE2), tok.password)
    assert server.metrics.get("drop.state_unavailable") == 1


def test_datagrams_queued_at_stop_are_still_answered(server: RadiusServer, redis_client: Any) -> None:
    """SIGTERM drains the socket before closing it: closing would discard what the kernel has
    queued, and each discarded request costs its AC a retransmission timeout."""
    from radius.server import bind_udp

    bound = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=3)
    port = free_udp_port()
    server.add_socket(bind_udp("127.0.0.1", port, reuseport=False), AUTH)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.settimeout(1.0)
        for _ in range(150):
            pkt = access_request(User_Name=PHONE, password=bound.password, Calling_Station_Id=MAC)
            client.sendto(pkt.RequestPacket(), ("127.0.0.1", port))
        server.serve_forever(lambda: True)      # told to stop before its first pass
        answered = 0
        with contextlib.suppress(TimeoutError):
            while True:
                client.recv(4096)
                answered += 1
    assert answered == 150
    assert server.metrics.get("auth.accept") == 150


def test_batch_and_single_decisions_agree(server: RadiusServer, redis_client: Any) -> None:
    """handle_datagram one at a time and handle_batch decide the same (codes, reasons, attrs)."""
    store = CredentialStore(redis_client)
    bound = store.bind_mac(MAC, PHONE, days=3)
    PlanStore(redis_client).put(Plan(name="tiny", daily_time=100, up_kbps=64))
    PlanStore(redis_client).assign_user(PHONE2, "tiny")
    redis_client.hset(keys.usage(PHONE2), mapping={"d": UsageBook(redis_client).today(time.time()),
                                                   "dt": 500})
    store.bind_mac(MAC2, PHONE2, days=3)
    policy = server.auth_handler
    assert isinstance(policy, AuthPolicy)
    ac = AcRegistry(redis_client).get("ac1")
    cases = [
        access_request(User_Name=PHONE, password=bound.password, Calling_Station_Id=MAC),
        access_request(User_Name=PHONE, password="x", Calling_Station_Id=MAC),
        access_request(User_Name=MAC2, password=MAC2),
        access_request(User_Name=PHONE2, password=store.mac_credential(MAC2).password,   # type: ignore[union-attr]
                       Calling_Station_Id=MAC2),
        access_request(User_Name=PHONE),
    ]
    from radius import wire

    items = [(wire.decode(c.RequestPacket()), ac, SECRET.encode()) for c in cases]
    now = time.time()
    batch = policy.handle_auth_batch(items, now)
    single = [policy.handle_auth(*item, now) for item in items]

    def strip(r: Any) -> Any:
        return (r.code, r.reason, tuple(a for a in r.attrs if a[0] != 25))

    assert [strip(r) for r in batch] == [strip(r) for r in single]
    assert [getattr(r, "reason", r) for r in batch] == ["", "invalid_credential", "daily_time_used",
                                         "daily_time_used", "unsupported_method"]


def test_redis_failing_mid_batch_answers_nothing(server: RadiusServer, redis_client: Any) -> None:
    store = CredentialStore(redis_client)
    bound = store.bind_mac(MAC, PHONE, days=3)
    store.bind_mac(MAC2, PHONE2, days=3)
    policy = server.auth_handler
    assert isinstance(policy, AuthPolicy) and policy.fast is not None
    pap = access_request(User_Name=PHONE, password=bound.password, Calling_Station_Id=MAC)
    mac_auth = access_request(User_Name=MAC2, password=MAC2)
    batch = [(pap.RequestPacket(), ADDR), (mac_auth.RequestPacket(), ADDR)]

    # Redis goes away after the batch's reads, before the MAC authentication's reads.
    original = policy._run_jobs

    def run_then_drop(*args: Any) -> None:
        original(*args)
        redis_client.client_kill_filter(_type="normal", skipme=True)

    policy._run_jobs = run_then_drop  # type: ignore[method-assign,assignment]
    assert server.handle_batch(batch, AUTH) == [None, None]
    assert server.metrics.get("drop.state_unavailable") == 2
    assert server.metrics.total("auth.") == 0
    policy._run_jobs = original  # type: ignore[method-assign]

    # Redis unreachable for the whole batch (connection refused): nothing answered either.
    fast = policy.fast
    fast.close()
    real_addr, fast._addr = fast._addr, ("127.0.0.1", free_tcp_port())
    try:
        assert server.handle_batch(batch, AUTH) == [None, None]
    finally:
        fast._addr = real_addr
    assert server.metrics.get("drop.state_unavailable") == 4

    # Nothing was cached as answered: the AC's retries are decided anew once Redis is back.
    replies = server.handle_batch(batch, AUTH)
    assert [code_of(r, raw) for r, raw in zip((pap, mac_auth), replies, strict=True)] == [
        AccessAccept, AccessAccept]
    assert server.metrics.get("duplicate.replayed") == 0


def test_token_in_a_batch_lost_to_redis_is_never_accepted_twice(server: RadiusServer,
                                                                 redis_client: Any) -> None:
    token = CredentialStore(redis_client).mint_login_token(PHONE)
    reqs = [access_request(User_Name=PHONE, password=token.password) for _ in range(3)]
    replies = server.handle_batch([(r.RequestPacket(), ADDR) for r in reqs], AUTH)
    assert [code_of(r, raw) for r, raw in zip(reqs, replies, strict=True)].count(AccessAccept) == 1
    assert server.metrics.get("reject.reused_credential") == 2


def test_burst_over_sockets_is_drained_and_answered(redis_client: Any, redis_url: str) -> None:
    register(redis_client)
    bound = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=3)
    with running_server(redis_url) as srv, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        reqs = [access_request(User_Name=PHONE, password=bound.password if i % 3 else "bad",
                               Calling_Station_Id=MAC) for i in range(60)]
        for r in reqs:
            sock.sendto(r.RequestPacket(), ("127.0.0.1", srv.auth_port))
        got: dict[int, bytes] = {}
        while len(got) < len(reqs):
            raw = sock.recv(4096)
            got[raw[1]] = raw
        for r in reqs:
            expected = AccessReject if reqs.index(r) % 3 == 0 else AccessAccept
            assert decode_reply(r, got[r.id]).code == expected
        assert srv.metrics.get("auth.accept") == 40 and srv.metrics.get("reject.invalid_credential") == 20


def test_two_workers_share_one_source_port_and_replay_duplicates(redis_client: Any,
                                                                  redis_url: str) -> None:
    """One AC (one source port) is spread over both workers by the Request Authenticator; a
    retransmission reaches the worker that holds its cached reply."""
    register(redis_client)
    bound = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=3)
    auth, acct = free_udp_port(), free_udp_port()
    proc = start(redis_url, auth, acct)
    try:
        wait_alive(auth)
        # Both workers must have joined the port's reuseport group before we count on where a
        # retransmission lands (a worker still starting is not in the group yet).
        deadline = time.monotonic() + 20
        while bound_sockets(auth) < 2:
            assert time.monotonic() < deadline, "second worker never bound the auth port"
            time.sleep(0.05)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            for i in range(40):
                req = access_request(User_Name=PHONE, password=bound.password, Calling_Station_Id=MAC)
                raw = req.RequestPacket()
                first = exchange(auth, raw, sock=sock, timeout=3)
                assert first is not None and decode_reply(req, first).code == AccessAccept
                if i % 10 == 0:
                    assert exchange(auth, raw, sock=sock, timeout=3) == first
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    counters = re.findall(r"RADIUS worker \d+ stopped; counters: (\{.*\})", out)
    assert len(counters) == 2, out
    per_worker = [eval(c) for c in counters]   # our own log line: a dict literal
    assert all(w.get("auth.accept", 0) > 0 for w in per_worker), per_worker
    assert sum(w.get("auth.accept", 0) for w in per_worker) == 40
    assert sum(w.get("duplicate.replayed", 0) for w in per_worker) == 4


def test_accounting_batch_is_stored_in_order_once(server: RadiusServer, redis_client: Any) -> None:
    """A drained batch of accounting goes out as one pipeline: Start, Interim, the same Interim
    retransmitted with a new Identifier, Stop and an Accounting-On are all acknowledged, usage is
    booked once, the session ends closed; a forged request in the batch is dropped."""
    from pyrad.packet import AccountingResponse

    from portal.aaa.sessions import SessionRegistry
    from radius.server import ACCT

    cls = signed_class(PHONE, "basic", issued=time.time() - 60)
    base: dict[str, Any] = {"Acct_Session_Id": "b-1", "User_Name": PHONE, "Calling_Station_Id": MAC,
            "NAS_IP_Address": "127.0.0.1", "Class": cls}
    reqs = [
        acct_request(Acct_Status_Type=1, **base),
        acct_request(Acct_Status_Type=3, Acct_Session_Time=60, Acct_Input_Octets=1000,
                     Acct_Output_Octets=4000, **base),
        acct_request(Acct_Status_Type=3, Acct_Session_Time=60, Acct_Input_Octets=1000,
                     Acct_Output_Octets=4000, Acct_Delay_Time=1, **base),
        acct_request(Acct_Status_Type=2, Acct_Session_Time=90, Acct_Input_Octets=1500,
                     Acct_Output_Octets=6000, **base),
        acct_request(Acct_Status_Type=7, NAS_IP_Address="127.0.0.1"),
        acct_request(secret="forged", Acct_Status_Type=1, **{**base, "Acct_Session_Id": "b-2"}),
    ]
    replies = server.handle_batch([(r.RequestPacket(), ADDR) for r in reqs], ACCT)
    assert replies[-1] is None and server.metrics.get("drop.bad_authenticator") == 1
    for req, raw in zip(reqs[:-1], replies[:-1], strict=True):
        assert raw is not None and req.CreateReply(packet=raw).code == AccountingResponse
    assert server.metrics.get("acct.ok") == 5
    usage = UsageBook(redis_client).get(PHONE, time.time())
    assert (usage.total_time, usage.total_volume) == (90, 7500)
    assert SessionRegistry(redis_client).get("ac1", "b-1") is None
    assert SessionRegistry(redis_client).get("ac1", "b-2") is None
    kinds = [e[1][b"k"] for e in redis_client.xrange(keys.acct_log())]
    assert kinds == [b"acct"] * 5      # four session records and the Accounting-On

    # Redis unreachable: nothing of the batch is acknowledged, and the retries are stored later.
    again = [acct_request(Acct_Status_Type=1, **{**base, "Acct_Session_Id": f"c-{i}"}) for i in range(3)]
    datagrams = [(r.RequestPacket(), ADDR) for r in again]
    acct = server.acct_handler
    assert isinstance(acct, AccountingProcessor)
    real, real_fast = acct.redis, acct.fast
    port = free_tcp_port()
    dead = type(real)(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    acct.redis = dead
    if real_fast is not None:   # the batch's own connection (radius.resp.RespPipeline) too
        acct.fast = RespClient(f"redis://127.0.0.1:{port}", timeout=0.5)
    try:
        assert server.handle_batch(datagrams, ACCT) == [None, None, None]
    finally:
        acct.redis, acct.fast = real, real_fast
        dead.close()
    assert server.metrics.get("drop.state_unavailable") == 3
    assert all(r is not None for r in server.handle_batch(datagrams, ACCT))
    assert SessionRegistry(redis_client).count() == 3


def bound_sockets(port: int) -> int:
    """UDP sockets bound to 127.0.0.1:port, from /proc/net/udp."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as f:
        return sum(1 for line in f if line.split()[1:2] == [local])


def test_usage_mirror_matches_usage_book(redis_client: Any) -> None:
    book = UsageBook(redis_client)
    now = time.time()
    from portal.aaa.authorizer import Authorizer

    policy = AuthPolicy(redis_client, Authorizer(redis_client))
    for flat in ([], ["d", book.today(now), "dt", "50", "dv", "7", "tt", "90", "tv", "12", "f", "1.5"],
                 ["d", "19990101", "dt", "50", "tt", "90"]):
        as_bytes = [v.encode() for v in flat]
        as_dict = dict(zip(as_bytes[::2], as_bytes[1::2], strict=True))
        assert policy.lookups.usage(as_bytes, now) == book.from_raw(as_dict, now)


@settings(max_examples=60, deadline=None)
@given(start=st.floats(min_value=1.6e9, max_value=2.0e9),
       steps=st.lists(st.floats(min_value=0, max_value=40_000), min_size=1, max_size=20),
       zone=st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/London"]))
def test_remembered_midnight_equals_computed(start: float, steps: list[float], zone: str) -> None:
    tz = ZoneInfo(zone)
    now = start
    for step in steps:
        now += step
        assert _next_midnight(now, tz) == next_midnight(now, tz)


def test_accounting_batch_after_script_flush_writes_each_record_once(
        server: RadiusServer, redis_client: Any) -> None:
    """The accounting pipeline writes (log entry, indexes) before its script; when Redis lost
    the scripts (restart, SCRIPT FLUSH) only the scripts are sent again, so nothing is written
    twice and every session is still stored."""
    from radius.server import ACCT

    cls = signed_class(PHONE, "basic", issued=time.time() - 60)
    reqs = [acct_request(Acct_Status_Type=1, Acct_Session_Id=f"f-{i}", User_Name=PHONE,
                         Calling_Station_Id=f"02:00:00:00:01:{i:02x}", NAS_IP_Address="127.0.0.1",
                         Class=cls if i == 0 else signed_class(PHONE, "basic", issued=time.time() - 60))
            for i in range(4)]
    redis_client.script_flush()
    replies = server.handle_batch([(r.RequestPacket(), ADDR) for r in reqs], ACCT)
    assert all(r is not None for r in replies)
    kinds = [e[1][b"k"] for e in redis_client.xrange(keys.acct_log())]
    assert kinds == [b"acct"] * 4, kinds
    assert redis_client.hlen(keys.ac_sessions("ac1")) == 4
    assert len(redis_client.hgetall(keys.phone_sessions(PHONE))) == 4
