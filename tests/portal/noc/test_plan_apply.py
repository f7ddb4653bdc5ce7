"""A changed plan applied to its online sessions (portal/noc/kick.py ``NocActions.apply_plan_change``)
with the real enforcer against a loopback RFC 5176 server, on real Redis: raised and lowered
alike by CoA, Disconnect when already past the new limits, the previous definition kept (and
later pruned) for sessions whose AC takes no CoA, a second pass for sessions that appeared
while RADIUS processes still granted from their cached copy, the scan when the index is not
complete, and a job that stops when a newer change took over."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.aaa.usage import UsageBook
from portal.noc.kick import NocActions
from portal.state import keys
from radius.enforcement import Enforcer
from radius.rfc5176 import DynCode
from tests.conftest import free_udp_port
from tests.fakes.dm_server import FakeDmServer

SECRET = "radius-secret-1234"
BASIC = Plan("basic", up_kbps=2000, down_kbps=8000, total_volume=10**9)


@pytest.fixture
def dm() -> Iterator[FakeDmServer]:
    with FakeDmServer(SECRET.encode()) as server:
        yield server


def _ac(redis: Any, name: str, port: int, rfc5176: bool = True) -> None:
    AcRegistry(redis).put(AcRecord(name=name, addresses=("127.0.0.1",), secret="portal-secret",
                                   radius_secret=SECRET, coa_port=port, port=free_udp_port(),
                                   rfc5176=rfc5176, timeout=0.2, retries=1))


def _open(redis: Any, ac: str, sid: str, i: int, plan: str = "basic", used: int = 60) -> OnlineSession:
    now = int(time.time())
    session = OnlineSession(ac, sid, f"1890000{i:04d}", mac=f"02:00:00:00:02:{i:02x}", ip=f"10.2.0.{i}",
                            started=now - used, updated=now, plan=plan, session_time=used)
    SessionRegistry(redis).open(session)
    return session


def _actions(redis: Any, settle: float = 0.0) -> NocActions:
    return NocActions(redis, Enforcer(redis, timeout=0.2, retries=2),
                      plans=PlanStore(redis, cache_ttl=0.0), usage=UsageBook(redis), settle=settle)


def _change(redis: Any, **limits: Any) -> tuple[Plan, Plan]:
    """Save a changed ``basic`` (as the console and the API do); (before, after)."""
    store = PlanStore(redis, cache_ttl=0.0)
    before = store.get("basic")
    after = dataclasses.replace(before, **limits)
    store.put(after)
    return before, after


def test_raised_and_lowered_alike_and_past_the_limit_disconnects(redis_client: Any, dm: FakeDmServer) -> None:
    PlanStore(redis_client).put(BASIC)
    _ac(redis_client, "ac1", dm.port)
    _open(redis_client, "ac1", "A", 1)
    heavy = _open(redis_client, "ac1", "B", 2)
    UsageBook(redis_client).add(heavy.phone, 60, 600_000_000, time.time())   # 600 MB used
    actions = _actions(redis_client)
    # Raised: both get a CoA with the new rate.
    result = actions.apply_plan_change(*_change(redis_client, up_kbps=4000))
    assert result.counts()["coa"] == 2 and [p.code for p in dm.received] == [DynCode.COA_REQUEST] * 2
    assert {dm.attr(i, "Acct-Session-Id") for i in range(2)} == {"A", "B"}
    # Lowered below what B used: B is disconnected, A gets the CoA.
    result = actions.apply_plan_change(*_change(redis_client, total_volume=500_000_000))
    by_sid = {o.session_id: o for o in result.outcomes}
    assert by_sid["A"].outcome == "coa" and by_sid["B"].outcome == "disconnected"
    assert "total_volume_used" in by_sid["B"].detail
    # The two sessions are handled concurrently: the second change's packets come in either order.
    second = dm.received[2:]
    assert sorted((p.code, p.get("Acct-Session-Id")[0]) for p in second) == [
        (DynCode.DISCONNECT_REQUEST, "B"), (DynCode.COA_REQUEST, "A")]
    assert [s.session_id for s in SessionRegistry(redis_client).by_plan("basic")] == ["A"]
    assert "1 were past them and were disconnected" in result.message_en


def test_no_coa_keeps_the_previous_definition_until_the_session_ends(redis_client: Any) -> None:
    PlanStore(redis_client).put(BASIC)
    _ac(redis_client, "old-ac", free_udp_port(), rfc5176=False)
    session = _open(redis_client, "old-ac", "K", 3)
    actions = _actions(redis_client)
    result = actions.apply_plan_change(*_change(redis_client, down_kbps=1000))
    (outcome,) = result.outcomes
    assert outcome.outcome == "next_login"
    store = PlanStore(redis_client, cache_ttl=0.0)
    (revision,) = store.revisions_of("basic")
    pinned = SessionRegistry(redis_client).get("old-ac", "K")
    assert pinned is not None and pinned.plan == revision
    old = store.plan_named(revision)
    assert old is not None and old.down_kbps == 8000             # what the AC still enforces
    # A second change still finds the pinned session; it stays on the revision its AC enforces.
    actions.apply_plan_change(*_change(redis_client, down_kbps=500))
    assert SessionRegistry(redis_client).get("old-ac", "K").plan == revision  # type: ignore[union-attr]
    # Once it has ended, the next change prunes the revision nobody runs under any more.
    SessionRegistry(redis_client).close("old-ac", "K", session.phone)
    actions.apply_plan_change(*_change(redis_client, down_kbps=700))
    assert store.revisions_of("basic") == []


def test_a_second_pass_reaches_sessions_granted_from_a_cached_copy(redis_client: Any,
                                                                    dm: FakeDmServer) -> None:
    PlanStore(redis_client).put(BASIC)
    _ac(redis_client, "ac1", dm.port)
    _open(redis_client, "ac1", "EARLY", 1)
    # A login a RADIUS process granted from its cached (old) definition; its Start lands after
    # the first pass read the index.
    late = threading.Timer(0.3, lambda: _open(redis_client, "ac1", "LATE", 2, used=1))
    late.start()
    result = _actions(redis_client, settle=1.0).apply_plan_change(*_change(redis_client, up_kbps=100))
    late.join()
    assert sorted(o.session_id for o in result.outcomes) == ["EARLY", "LATE"]
    assert {o.outcome for o in result.outcomes} == {"coa"}
    assert sorted(dm.attr(i, "Acct-Session-Id") for i in range(len(dm.received))) == ["EARLY", "LATE"]


def test_sessions_recorded_before_the_index_are_found_by_a_scan(redis_client: Any,
                                                                 dm: FakeDmServer) -> None:
    PlanStore(redis_client).put(BASIC)
    _ac(redis_client, "ac1", dm.port)
    for i in range(3):
        _open(redis_client, "ac1", f"S{i}", i + 1)
    _open(redis_client, "ac1", "OTHER", 9, plan="gold")
    redis_client.hdel(keys.plan_sessions("basic"), "ac1|S1")    # as if recorded by an older version
    actions = _actions(redis_client)
    assert not actions._plans_indexed()
    assert sorted(s.session_id for s in actions.sessions_under("basic")) == ["S0", "S1", "S2"]
    result = actions.apply_plan_change(*_change(redis_client, up_kbps=100))
    assert result.counts()["coa"] == 3


def test_a_newer_change_takes_over(redis_client: Any, dm: FakeDmServer) -> None:
    PlanStore(redis_client).put(BASIC)
    _ac(redis_client, "ac1", dm.port)
    _open(redis_client, "ac1", "S", 1)
    before, first = _change(redis_client, up_kbps=100)
    _change(redis_client, up_kbps=200)                          # saved before the first job ran
    result = _actions(redis_client).apply_plan_change(before, first)
    assert [o.outcome for o in result.outcomes] == ["superseded"] and dm.received == []
