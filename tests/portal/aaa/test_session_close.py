"""portal/aaa/session_close.py: a session's close and its logout records, Redis failing in between.

The failure is injected exactly between the two steps (the records' write raises a connection
error once, as redis-py does when Redis is gone); the real-Redis kill of the same point is in
tests/portal/web/gateway/test_gateway_hook_outage.py. Re-run on a Redis Cluster by tests/scale.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from portal.aaa.session_close import LEASE, LoggedClose
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.state import keys, keys_outbox

PHONE = "18900000123"
T0 = 1_800_000_000.0


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _logouts(r: Any) -> list[dict[bytes, bytes]]:
    return [f for _, f in r.xrange(keys.real_name_log()) if f.get(b"kind") == b"logout"]


def _open(r: Any) -> tuple[SessionRegistry, OnlineSession]:
    reg = SessionRegistry(r)
    s = OnlineSession("ac1", "s1", PHONE, plan="basic", started=int(T0) - 60, updated=int(T0),
                      session_time=60, input_octets=10, output_octets=20, ip="10.0.0.9")
    reg.open(s)
    return reg, s


def test_a_close_writes_its_logout_once_and_clears_its_marker(redis_client: Any) -> None:
    reg, _ = _open(redis_client)
    closer = LoggedClose(reg, _Clock())
    extra: list[str] = []
    verdict, closed = closer.close("ac1", "s1", PHONE, cause="user",
                                   also=lambda pipe, s: extra.append(s.session_id))
    assert verdict == "closed" and closed is not None and extra == ["s1"]
    assert len(_logouts(redis_client)) == 1
    assert _logouts(redis_client)[0][b"cause"] == b"user"
    assert not redis_client.exists(keys_outbox.session_logout_pending(PHONE, "ac1", "s1"))
    assert closer.close("ac1", "s1", PHONE, cause="user") == ("gone", None)
    assert len(_logouts(redis_client)) == 1 and reg.get("ac1", "s1") is None


def test_records_lost_with_the_connection_are_written_by_the_repeat(
        redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    reg, _ = _open(redis_client)
    clock = _Clock()
    closer = LoggedClose(reg, clock)
    original = LoggedClose.write_records

    def lost(*args: Any, **kw: Any) -> None:
        raise redis.exceptions.ConnectionError("Connection closed by server.")

    monkeypatch.setattr(LoggedClose, "write_records", lost)
    with pytest.raises(redis.exceptions.ConnectionError):
        closer.close("ac1", "s1", PHONE, cause="opennds:client_deauth")
    monkeypatch.setattr(LoggedClose, "write_records", original)
    assert reg.get("ac1", "s1") is None and _logouts(redis_client) == []   # closed, not logged
    clock.now += 1                         # within the first attempt's lease: left to it
    verdict, _ = closer.close("ac1", "s1", PHONE, cause="other")
    assert verdict == "busy" and _logouts(redis_client) == []
    clock.now += LEASE
    verdict, closed = closer.close("ac1", "s1", PHONE, cause="other")
    assert verdict == "pending" and closed is not None
    logouts = _logouts(redis_client)
    assert len(logouts) == 1, logouts
    # The first attempt's time and cause, the closed record's counters.
    assert logouts[0][b"cause"] == b"opennds:client_deauth"
    assert (logouts[0][b"in"], logouts[0][b"out"]) == (b"10", b"20")
    assert closer.close("ac1", "s1", PHONE, cause="other") == ("gone", None)
    assert len(_logouts(redis_client)) == 1
    assert reg.locate("ac1", "s1") is None                 # the index entries went with it
