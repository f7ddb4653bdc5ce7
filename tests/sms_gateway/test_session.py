"""Session behaviour with an injected socket factory and sleep (no real gateway needed)."""

from __future__ import annotations

import asyncio

import pytest

from sms_gateway.errors import GatewayTransientError
from sms_gateway.session import Session, next_sequence
from sms_gateway.smgp_backend import SmgpConfig, SmgpWire


def test_reconnect_backoff_doubles_up_to_the_cap() -> None:
    delays: list[float] = []
    attempts = 0

    async def refuse(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        nonlocal attempts
        attempts += 1
        raise ConnectionRefusedError("no gateway")

    async def run() -> None:
        done = asyncio.Event()

        async def fake_sleep(d: float) -> None:
            delays.append(d)
            if len(delays) >= 7:
                done.set()
            await asyncio.sleep(0)

        wire = SmgpWire(SmgpConfig("ct", "127.0.0.1"), lambda r: None, __import__("datetime").datetime.now)
        session = Session(wire, "127.0.0.1", 1, name="ct", backoff_min=1, backoff_max=8,
                          connect=refuse, sleep=fake_sleep, wait_connected=0.05)
        with pytest.raises(GatewayTransientError) as err:
            await session.request(lambda seq: b"")
        assert err.value.code == "gateway_unreachable"
        await asyncio.wait_for(done.wait(), 5)
        await session.close()

    asyncio.run(run())
    assert delays[:7] == [1, 2, 4, 8, 8, 8, 8]
    assert attempts >= 7


def test_sequence_ids_count_up_and_wrap() -> None:
    assert [next_sequence(n) for n in range(3)] == [1, 2, 3]
    assert next_sequence(0x7FFFFFFE) == 0x7FFFFFFF
    assert next_sequence(0x7FFFFFFF) == 1          # wraps past 2**31 - 1, skipping 0
