"""Device slots reserved with the batch's reads (radius/auth_slots.py).

A device accepted on a limited plan has its next reservation sent in the same round trip as
the reads; the decision must come out exactly as with a reservation made afterwards: the
Class names the reserved login, a full plan is too many devices, and a reservation the decision
does not take (a refusal) is put back as it was. Real Redis, the real server's batch path;
the worker's Redis client is wrapped only to count round trips.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from portal.aaa.blocklist import Blocklist, normalise_mac
from portal.aaa.credentials import CredentialStore
from portal.aaa.device_slots import EARLY_RESERVE_LUA, RESERVE_LUA, UNDO_RESERVE_LUA
from portal.aaa.grants import parse_class
from portal.aaa.plans import Plan, PlanStore
from portal.commands.radius import build_server
from portal.runtime.settings import QuotaSettings, RadiusSettings, RedisSettings, Settings
from portal.state import keys
from radius.auth import AuthPolicy
from radius.server import AUTH, RadiusServer
from radius.wire import Attr, Code
from tests.radius.serverkit import CLASS_KEY, MAC, PHONE, access_request, decode_reply, register

ADDR = ("127.0.0.1", 40002)
MAC2 = "aa-bb-cc-dd-ee-02"


@pytest.fixture
def server(redis_client: Any, redis_url: str) -> Iterator[RadiusServer]:
    register(redis_client)
    plans = PlanStore(redis_client)
    plans.put(Plan(name="duo", session_timeout=7200, interim_interval=300, max_sessions=1))
    plans.assign("default", "", "duo")
    settings = Settings(redis=RedisSettings(url=redis_url), quota=QuotaSettings(plan_cache_ttl=0.0),
                        radius=RadiusSettings(ac_cache_ttl=0.0, class_key=CLASS_KEY))
    srv = build_server(settings, reaper=False)
    assert isinstance(srv.auth_handler, AuthPolicy) and srv.auth_handler.fast is not None
    for script in (RESERVE_LUA, EARLY_RESERVE_LUA, UNDO_RESERVE_LUA):   # no NOSCRIPT trips
        redis_client.script_load(script)
    try:
        yield srv
    finally:
        srv.close()
        srv.auth_handler.fast.close()


class Trips:
    """Counts the worker's Redis round trips (wraps its RespClient's one socket exchange)."""

    def __init__(self, policy: AuthPolicy) -> None:
        assert policy.fast is not None
        self.count = 0
        real = policy.fast._roundtrip_raw

        def counted(payload: bytes, want: int) -> list[Any]:
            self.count += 1
            return real(payload, want)

        policy.fast._roundtrip_raw = counted  # type: ignore[method-assign]


def ask(server: RadiusServer, password: str, mac: str = MAC) -> Any:
    req = access_request(User_Name=PHONE, password=password, Calling_Station_Id=mac)
    (raw,) = server.handle_batch([(req.RequestPacket(), ADDR)], AUTH)
    assert raw is not None
    return decode_reply(req, raw)


def slot_value(redis_client: Any, mac: str = MAC) -> bytes | None:
    value: bytes | None = redis_client.hget(keys.device_slots(PHONE), normalise_mac(mac))
    return value


def login_of(reply: Any) -> str:
    info = parse_class(reply[Attr.CLASS][0])
    assert info is not None
    return info.login


def test_a_device_accepted_before_reserves_in_the_reads_round_trip(
        server: RadiusServer, redis_client: Any) -> None:
    bound = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=3)
    policy = server.auth_handler
    assert isinstance(policy, AuthPolicy)
    trips = Trips(policy)
    first = ask(server, bound.password)
    assert first.code == Code.ACCESS_ACCEPT
    assert trips.count == 2                         # reads, then the reservation
    held = slot_value(redis_client)
    assert held is not None and held.decode().endswith("|" + login_of(first))
    for _ in range(3):
        trips.count = 0
        again = ask(server, bound.password)
        assert again.code == Code.ACCESS_ACCEPT
        assert trips.count == 1                     # the reservation rode with the reads
        held = slot_value(redis_client)
        assert held is not None and held.decode().endswith("|" + login_of(again))


def test_an_early_reservation_of_a_full_plan_is_too_many_devices(
        server: RadiusServer, redis_client: Any) -> None:
    bound = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=3)
    assert ask(server, bound.password).code == Code.ACCESS_ACCEPT
    # Another device of the phone holds the plan's only slot now (this one's hold lapsed).
    slots = keys.device_slots(PHONE)
    redis_client.hset(slots, normalise_mac(MAC), f"{time.time() - 1:.3f}|old")
    redis_client.hset(slots, normalise_mac(MAC2), f"{time.time() + 60:.3f}|other")
    refused = ask(server, bound.password)
    assert refused.code == Code.ACCESS_REJECT
    assert server.metrics.get("reject.too_many_devices") == 1
    assert slot_value(redis_client) is None
    # The other device's slot lapses: this one is accepted again (the ordinary way: a full
    # early reservation leaves the device expected, it tries early again and gets in).
    redis_client.hdel(slots, normalise_mac(MAC2))
    assert ask(server, bound.password).code == Code.ACCESS_ACCEPT


def test_an_early_reservation_the_decision_refuses_is_put_back(
        server: RadiusServer, redis_client: Any) -> None:
    bound = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=3)
    accepted = ask(server, bound.password)
    held = slot_value(redis_client)
    assert held is not None and held.decode().endswith("|" + login_of(accepted))
    policy = server.auth_handler
    assert isinstance(policy, AuthPolicy)
    trips = Trips(policy)
    # Refused after the early reservation was made: the device's slot is as it was before.
    Blocklist(redis_client).block("mac", MAC, "stolen")
    refused = ask(server, bound.password)
    assert refused.code == Code.ACCESS_REJECT and server.metrics.get("reject.blocked") == 1
    assert slot_value(redis_client) == held
    assert trips.count == 2                         # reads (+ early), then the undo
    # No longer expected: the next refusal reserves nothing at all.
    trips.count = 0
    assert ask(server, bound.password).code == Code.ACCESS_REJECT
    assert trips.count == 1 and slot_value(redis_client) == held
    # A wrong password from an expected device whose slot did not exist before: none after.
    Blocklist(redis_client).unblock("mac", MAC)
    assert ask(server, bound.password).code == Code.ACCESS_ACCEPT
    redis_client.delete(keys.device_slots(PHONE))
    assert ask(server, "not-the-password").code == Code.ACCESS_REJECT
    assert slot_value(redis_client) is None


def test_a_changed_device_limit_takes_the_ordinary_reservation(
        server: RadiusServer, redis_client: Any) -> None:
    bound = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=3)
    assert ask(server, bound.password).code == Code.ACCESS_ACCEPT
    slots = keys.device_slots(PHONE)
    redis_client.hset(slots, normalise_mac(MAC2), f"{time.time() + 60:.3f}|other")
    # The plan now allows two devices: the early reservation (for one) said "full", the
    # decision needs two, so the ordinary reservation decides, and is accepted.
    PlanStore(redis_client).put(Plan(name="duo", session_timeout=7200, interim_interval=300,
                                     max_sessions=2))
    again = ask(server, bound.password)
    assert again.code == Code.ACCESS_ACCEPT
    held = slot_value(redis_client)
    assert held is not None and held.decode().endswith("|" + login_of(again))


def test_undo_restores_the_field_only_while_it_holds_the_early_login(redis_client: Any) -> None:
    early = redis_client.register_script(EARLY_RESERVE_LUA)
    undo = redis_client.register_script(UNDO_RESERVE_LUA)
    ses, slots = keys.phone_sessions(PHONE), keys.device_slots(PHONE)
    mac = "02:00:00:00:00:01"
    redis_client.hset(slots, mac, "2000000000.000|before")
    assert early(keys=[ses, slots], args=[2, mac, mac, 1_000_000, 30, 60, "e1"]) == [
        b"ok", b"2000000000.000|before"]
    assert undo(keys=[slots], args=[mac, "e1", "2000000000.000|before"]) == 1
    assert redis_client.hget(slots, mac) == b"2000000000.000|before"
    # Someone reserved the same device after the early step: the undo leaves theirs alone.
    early(keys=[ses, slots], args=[2, mac, mac, 1_000_000, 30, 60, "e2"])
    redis_client.hset(slots, mac, "2000000000.000|later")
    assert undo(keys=[slots], args=[mac, "e2", "2000000000.000|before"]) == 0
    assert redis_client.hget(slots, mac) == b"2000000000.000|later"
    # Nothing before: the undo removes the field.
    redis_client.hdel(slots, mac)
    assert early(keys=[ses, slots], args=[2, mac, mac, 1_000_000, 30, 60, "e3"]) == [b"ok", b""]
    assert undo(keys=[slots], args=[mac, "e3", ""]) == 1
    assert redis_client.hget(slots, mac) is None
