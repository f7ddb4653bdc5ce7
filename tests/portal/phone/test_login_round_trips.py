"""Redis round trips on the phone login's hot path, counted on the wire against a real Redis.

Each count is what the code is built to send (docs/benchmarks.md: where a login's Redis commands
come from): a change that adds a round trip to a code request, a verification or a MAC binding
fails here. NOSCRIPT — a restarted or flushed Redis that no longer knows a script — must still
work: the pipelined EVALSHA is redone through the script object, which loads it.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.connection

from portal.aaa.blocklist import Blocklist
from portal.aaa.credentials import CredentialStore
from portal.phone.login import LoginError
from portal.phone.otp import OtpRefused, OtpService
from portal.runtime.settings import OtpSettings
from portal.state import keys
from tests.e2e.stack import AC_NAME, Stack, phone, running_stack, wait_for

PHONE = "18912345678"
MAC = "aa:bb:cc:dd:ee:01"
KEY = b"k" * 32
# Every limit family active: phone (+cooldown), MAC@source, IP, source, AC, global.
ALL_LIMITS = OtpSettings(per_phone_hour=100, per_phone_day=100, per_mac_hour=100, per_mac_day=100,
                         per_ip_hour=100, per_ip_day=100, per_source_hour=100, per_source_day=100,
                         per_ac_minute=100, global_per_minute=100)


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """Every packet the client writes to Redis (one per command, one per pipeline)."""
    seen: list[bytes] = []
    original = redis.connection.AbstractConnection.send_packed_command

    me = threading.get_ident()      # this test's calls only, not the stack's server threads

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        if threading.get_ident() == me:
            seen.append(b"".join(command) if isinstance(command, list) else bytes(command))
        original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    yield seen


def counted(sends: list[bytes], fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` and its round trips, without the AC outcome counters (``portal.noc.ac_outcomes``
    flushes them every few seconds, not per login)."""
    sends.clear()
    result = fn()
    sends[:] = [s for s in sends if b"{acstat:" not in s]
    return result, len(sends)


def otp(redis_client: Any, **overrides: Any) -> OtpService:
    return OtpService(redis_client, dataclasses.replace(ALL_LIMITS, **overrides), KEY,
                      blocklist=Blocklist(redis_client))


def test_code_request_is_three_round_trips_whatever_the_number_of_limit_families(
        redis_client: Any, sends: list[bytes]) -> None:
    svc = otp(redis_client)
    warm = svc.request_code("18900000001", MAC, "10.0.0.1", "ac1", source="192.0.2.1")
    svc.verify("18900000001", warm.code, MAC, "10.0.0.1")                      # scripts loaded
    issued, trips = counted(sends, lambda: svc.request_code(PHONE, MAC, "10.0.0.2", "ac1",
                                                            source="192.0.2.2"))
    # blocklist (phone + MAC) · six families' reserve scripts · the code record
    assert trips == 3
    assert not any(b"EXISTS" in s for s in sends)       # no SCRIPT EXISTS before the pipeline
    hour = int(svc.clock() // 3600)
    assert int(redis_client.get(keys.otp_ip_counter("10.0.0.2", "h", hour))) == 1
    assert int(redis_client.get(keys.otp_source_counter("192.0.2.2", "h", hour))) == 1
    verified, trips = counted(sends, lambda: svc.verify(PHONE, issued.code, MAC, "10.0.0.2"))
    assert trips == 2                                   # attempt · consume (with the device)
    assert (verified.mac, verified.ip, verified.ac_name) == (MAC, "10.0.0.2", "ac1")


def test_a_refusing_family_leaves_every_other_family_as_it_was(redis_client: Any) -> None:
    svc = otp(redis_client, per_ip_hour=1)
    svc.request_code("18900000001", "aa:bb:cc:dd:ee:09", "10.0.0.9", "ac1", source="192.0.2.9")
    hour, minute = int(svc.clock() // 3600), int(svc.clock() // 60)
    with pytest.raises(OtpRefused) as info:
        svc.request_code(PHONE, MAC, "10.0.0.9", "ac1", source="192.0.2.10")
    assert info.value.code == "ip_hourly_cap"
    # The families before (phone, MAC) and after (source, AC, global) the IP family: unchanged.
    assert redis_client.get(keys.otp_last_sent(PHONE)) is None
    assert redis_client.get(keys.otp_phone_counter(PHONE, "h", hour)) in (None, b"0")
    assert redis_client.get(keys.otp_mac_counter(f"{MAC}@192.0.2.10", "h", hour)) in (None, b"0")
    assert redis_client.get(keys.otp_source_counter("192.0.2.10", "h", hour)) in (None, b"0")
    assert int(redis_client.get(keys.otp_ac_counter("ac1", "m", minute))) == 1
    assert int(redis_client.get(keys.otp_global_counter("m", minute))) == 1
    assert redis_client.exists(keys.otp_code(PHONE)) == 0


def test_scripts_forgotten_by_redis_are_loaded_again(redis_client: Any) -> None:
    svc = otp(redis_client)
    store = CredentialStore(redis_client)
    svc.request_code("18900000001", MAC, "10.0.0.1", "ac1", source="192.0.2.1")
    store.bind_mac(MAC, "18900000001", 1)
    redis_client.script_flush()          # as after a Redis restart or failover
    issued = svc.request_code(PHONE, "aa:bb:cc:dd:ee:02", "10.0.0.2", "ac1", source="192.0.2.2")
    assert svc.verify(PHONE, issued.code, "aa:bb:cc:dd:ee:02", "10.0.0.2").phone == PHONE
    redis_client.script_flush()
    cred = store.bind_mac("aa:bb:cc:dd:ee:02", PHONE, 1)
    assert store.mac_credential("aa:bb:cc:dd:ee:02") == cred
    assert redis_client.sismember(keys.phone_macs(PHONE), "aa:bb:cc:dd:ee:02")


def test_binding_a_mac_is_one_round_trip_and_moving_it_two(redis_client: Any, sends: list[bytes]) -> None:
    store = CredentialStore(redis_client)
    first = store.bind_mac(MAC, PHONE, 1)                                   # script loaded
    again, trips = counted(sends, lambda: store.bind_mac(MAC, PHONE, 2))
    assert trips == 1 and again.password == first.password                # same phone keeps its secret
    moved, trips = counted(sends, lambda: store.bind_mac(MAC, "18900000002", 1))
    assert trips == 2 and moved.password != first.password                  # + the old index's SREM
    assert not redis_client.sismember(keys.phone_macs(PHONE), MAC)
    assert redis_client.sismember(keys.phone_macs("18900000002"), MAC)


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


def test_a_phone_journey_in_round_trips(stack: Stack, sends: list[bytes]) -> None:
    journey = stack.journey
    # Plans and venues cached as in production (5 s); the stack re-reads them on every use.
    journey.plans.cache_ttl = journey.venues.cache_ttl = 600.0
    ctx = journey.context(stack.query(1))
    journey.request_code(ctx, phone(1))
    journey.login_with_code(ctx, phone(1), stack.last_code(phone(1)))       # scripts loaded
    ctx = journey.context(stack.query(2))
    _, landing = counted(sends, lambda: journey.landing(ctx))
    assert landing == 1                              # binding and pending number together
    _, code = counted(sends, lambda: journey.request_code(ctx, phone(2)))
    # number lookup · blocklist · the limit families · the code record · SMS job + pending number
    assert code == 5
    code_2 = stack.last_code(phone(2))
    _, login = counted(sends, lambda: journey.login_with_code(ctx, phone(2), code_2))
    # attempt · consume · plan and quota · token · MAC binding · real-name record · the login's view
    assert login == 7, [re.findall(rb"\r\n([A-Za-z:{}0-9.-]+)\r\n", p)[:3] for p in sends]
    assert stack.redis.get(keys.device_pending_phone(ctx.device)) is None


def test_a_code_whose_sms_was_not_queued_leaves_no_pending_number(stack: Stack) -> None:
    ctx = stack.journey.context(stack.query(3))
    stack.redis.delete(keys.sms_stream())
    stack.redis.set(keys.sms_stream(), "not a stream")          # XADD fails: WRONGTYPE
    with pytest.raises(Exception) as info:
        stack.journey.request_code(ctx, phone(3))
    assert not isinstance(info.value, LoginError) and "WRONGTYPE" in str(info.value)
    assert stack.redis.get(keys.device_pending_phone(ctx.device)) is None
    assert stack.journey.landing(ctx).code_pending is False


def test_a_returning_phone_in_round_trips(stack: Stack, sends: list[bytes]) -> None:
    journey = stack.journey
    journey.plans.cache_ttl = journey.venues.cache_ttl = 600.0
    for i in (7, 8):            # phone 7 loads the scripts and caches; phone 8 is counted
        ctx = journey.context(stack.query(i))
        journey.request_code(ctx, phone(i))
        journey.login_with_code(ctx, phone(i), stack.last_code(phone(i)))
        journey.logout(AC_NAME, ctx.user_ip)
        assert wait_for(lambda ip=ctx.user_ip: ip not in stack.ac.online())
        again = journey.context(stack.query(i))
        landing, trips_landing = counted(sends, lambda again=again: journey.landing(again))
        assert landing.ad is not None
        stack.clock.advance(landing.ad.seconds)
        ticket = landing.ad.ticket
        ok, trips_redeem = counted(sends, lambda again=again, ticket=ticket: journey.redeem_ad(again, ticket))
        assert ok.kind == "returning" and again.user_ip in stack.ac.online()
    # binding + pending number · plan and quota · impressions · this ad's count + ticket
    assert trips_landing == 4
    # ticket + binding · plan and quota · token · ad views · real-name record · the login's view
    assert trips_redeem == 6, [re.findall(rb"\r\n([A-Za-z:{}0-9.-]+)\r\n", p)[:3] for p in sends]
