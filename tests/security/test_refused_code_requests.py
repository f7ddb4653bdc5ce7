"""A refused SMS code request must store nothing.

Once a source address was over its hourly code limit, every further ``POST /portal/code`` that
named a new phone number and a new device still left about six counter keys behind (value 0,
TTL up to a day): the phone, MAC and IP families were reserved in the same pipelined round trip
as the refusing source family and then only decremented back to 0. 1,525 refused requests from
one address in 20 s added 6,202 keys (~1 MB). A released reservation now deletes a counter that
returns to 0, so a refused request leaves Redis as it found it. Driven over real HTTP from one
loopback address against the real app, stack and Redis.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ac_adapters.simulator import build_redirect_url
from portal.phone.otp import OtpRefused, OtpService
from portal.runtime.settings import OtpSettings
from tests.e2e.stack import Stack, phone, running_stack, user
from tests.security.phone_http import Client, field_value, serve

SOURCE_LIMIT = 30          # the shipped per_source_hour
REFUSED = 80


@pytest.fixture
def portal(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[tuple[Stack, str]]:
    with running_stack(redis_client, redis_url, data_dir) as stack, serve(stack) as base:
        otp = stack.journey.otp
        otp.cfg = dataclasses.replace(otp.cfg, per_source_hour=SOURCE_LIMIT, per_source_day=500)
        yield stack, base


def _ask(stack: Stack, base: str, i: int) -> int:
    """A fresh device (new IP and MAC in the AC's redirect) asks a code for a new number."""
    ip, mac = user(5000 + i)
    cfg = stack.ac.config
    url = build_redirect_url(base + "/portal", flavour=cfg.flavour, user_ip=ip, user_mac=mac,
                             ac_ip=cfg.nas_ip, ac_name=cfg.nas_identifier, ssid=cfg.ssid,
                             ap_mac=cfg.ap_mac, first_url=cfg.first_url)
    client = Client(base, "127.0.0.1")
    c = field_value(client.get(url).text, "c")
    assert c
    return client.post("/portal/code", {"c": c, "phone": phone(7000 + i)}).status


def _held(redis: Any) -> tuple[set[bytes], int]:
    names = set(redis.scan_iter(count=1000))
    return names, sum(int(redis.memory_usage(k, samples=0) or 0) for k in names)


def test_refused_code_requests_from_one_address_add_no_key(portal: tuple[Stack, str]) -> None:
    stack, base = portal
    statuses = [_ask(stack, base, i) for i in range(SOURCE_LIMIT)]
    assert statuses == [200] * SOURCE_LIMIT
    assert _ask(stack, base, SOURCE_LIMIT) == 429                 # over the source's limit now
    names_before, bytes_before = _held(stack.redis)
    used_before = int(stack.redis.info("memory")["used_memory"])
    statuses = [_ask(stack, base, SOURCE_LIMIT + 1 + i) for i in range(REFUSED)]
    assert statuses == [429] * REFUSED
    names_after, bytes_after = _held(stack.redis)
    added = sorted(n.decode() for n in names_after - names_before)
    assert not added, f"{REFUSED} refused requests left {len(added)} keys, e.g. {added[:4]}"
    assert bytes_after - bytes_before < 256
    # Only the unavoidable: allocator noise and the shared counters' values, not per-request keys.
    assert int(stack.redis.info("memory")["used_memory"]) - used_before < 64 * 1024


def test_a_released_reservation_deletes_the_counters_it_created(redis_client: Any) -> None:
    """Every family ahead of and after the refusing one — phone (with its resend stamp), MAC, IP,
    AC, global — is left exactly as before, including counters that did not exist."""
    limits = OtpSettings(per_phone_hour=5, per_phone_day=5, per_mac_hour=5, per_mac_day=5,
                         per_ip_hour=5, per_ip_day=5, per_source_hour=1, per_source_day=5,
                         per_ac_minute=50, global_per_minute=50)
    svc = OtpService(redis_client, limits, b"k" * 32)
    svc.request_code(phone(1), "02:00:00:00:00:01", "10.0.0.1", "ac1", source="192.0.2.1")
    before = _state(redis_client)
    for i in range(2, 12):
        with pytest.raises(OtpRefused) as info:
            svc.request_code(phone(i), f"02:00:00:00:00:{i:02x}", f"10.0.0.{i}", "ac1", source="192.0.2.1")
        assert info.value.code == "ip_hourly_cap"
    assert _state(redis_client) == before


def _state(redis: Any) -> dict[bytes, tuple[bytes | None, bool]]:
    """Every key: its value (DUMP, any type) and whether it has a TTL."""
    return {k: (redis.dump(k), redis.ttl(k) > 0) for k in redis.scan_iter()}
