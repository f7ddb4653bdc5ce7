"""The auth policy's per-worker memos (radius.auth_lookups): a remembered parse must answer
exactly what parsing the same reply again would, on the same local day."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from portal.aaa.authorizer import Authorizer
from portal.runtime.settings import QuotaSettings
from portal.state import keys
from radius.auth_lookups import PlanCache

TZ = "Asia/Shanghai"
PHONE = "13800138000"


def _reply(redis_client: Any) -> list[bytes]:
    """The usage hash as the fast path's pipeline reads it: a flat HGETALL reply."""
    return [part for pair in redis_client.hgetall(keys.usage(PHONE)).items() for part in pair]


def test_usage_memo_follows_the_counters_and_the_local_day(redis_client: Any) -> None:
    authorizer = Authorizer(redis_client, QuotaSettings(timezone=TZ, plan_cache_ttl=0.0))
    book = authorizer.usage
    cache = PlanCache(authorizer, None)
    evening = dt.datetime(2026, 12, 7, 23, 0, tzinfo=ZoneInfo(TZ)).timestamp()
    assert cache.usage(None, evening) == book.get(PHONE, evening)   # no hash yet: all zero

    book.add(PHONE, 600, 5_000, evening)
    flat = _reply(redis_client)
    first = cache.usage(flat, evening)
    assert first == book.get(PHONE, evening) and first.daily_time == 600
    assert cache.usage(list(flat), evening + 1) is first   # the same reply again: remembered

    book.add(PHONE, 60, 100, evening + 2)                  # accounting moved the counters on
    moved = cache.usage(_reply(redis_client), evening + 2)
    assert moved == book.get(PHONE, evening + 2) and moved.daily_time == 660

    # After local midnight the same reply holds yesterday's daily counters: they read zero,
    # exactly as a fresh parse says, while the totals stay.
    morning = evening + 3600 + 60
    after = cache.usage(_reply(redis_client), morning)
    assert after == book.get(PHONE, morning)
    assert (after.day, after.daily_time, after.daily_volume, after.total_time) == ("20261208", 0, 0, 660)


def test_fast_path_memos_follow_the_binding_and_the_ac_record(redis_client: Any, redis_url: str) -> None:
    # radius.auth remembers a MAC binding's parsed reply (by content) and each AC's dialect (by
    # record identity): a rebound MAC or an AC edited to another dialect must show at once.
    import dataclasses

    from portal.aaa.credentials import CredentialStore
    from radius import wire
    from radius.auth import AuthPolicy
    from radius.resp import RespClient
    from tests.radius.serverkit import MAC, SECRET, access_request, register

    ac = register(redis_client, vendor="huawei-v2")
    store = CredentialStore(redis_client)
    first = store.bind_mac(MAC, PHONE, days=3)
    fast = RespClient(redis_url)
    try:
        policy = AuthPolicy(redis_client, Authorizer(redis_client), fast=fast)

        def ask(password: str, record: Any) -> Any:
            req = wire.decode(access_request(User_Name=PHONE, password=password,
                                             Calling_Station_Id=MAC).RequestPacket())
            return policy.handle_auth(req, record, SECRET.encode(), 1_900_000_000.0)

        huawei = ask(first.password, ac)
        assert huawei.code == 2 and ask(first.password, ac).code == 2
        assert any(t == 26 and v[:4] == (2011).to_bytes(4, "big") for t, v in huawei.attrs)
        assert store.unbind_mac(MAC)
        second = store.bind_mac(MAC, PHONE, days=3)   # a new secret for the same device
        assert second.password != first.password
        assert ask(first.password, ac).reason == "invalid_credential"
        assert ask(second.password, ac).code == 2
        h3c = ask(second.password, dataclasses.replace(ac, radius_dialect="h3c"))
        assert any(t == 26 and v[:4] == (25506).to_bytes(4, "big") for t, v in h3c.attrs)
        assert not any(t == 26 and v[:4] == (2011).to_bytes(4, "big") for t, v in h3c.attrs)
    finally:
        fast.close()
