"""Online-session registry: CRUD, indexes, staleness, compact storage."""

from __future__ import annotations

from typing import Any

from portal.aaa.session_repair import repair_indexes
from portal.aaa.sessions import OnlineSession, SessionRegistry, decode_record, encode_record
from portal.state import keys


def _s(phone: str = "13800138000", sid: str = "s1", ac: str = "ac1", **kw: Any) -> OnlineSession:
    base: dict[str, Any] = dict(mac="aa:bb:cc:dd:ee:01", ip="10.0.0.5", started=1000, updated=1000,
                                interim=300, plan="basic")
    base.update(kw)
    return OnlineSession(ac=ac, session_id=sid, phone=phone, **base)


def test_record_round_trip_is_compact() -> None:
    s = _s(session_time=60, input_octets=2**40, output_octets=7)
    raw = encode_record(s)
    assert len(raw) < 140
    assert decode_record(s.phone, s.field, raw) == s
    assert decode_record("1", "no-separator", raw) is None
    assert decode_record("1", "ac|x", b"{not json") is None


def test_open_get_by_phone_by_ac_all_close(redis_client: Any) -> None:
    reg = SessionRegistry(redis_client, grace=60)
    a = _s(sid="s1")
    b = _s(sid="s|2", mac="aa:bb:cc:dd:ee:02", started=1100)  # '|' inside a session id is fine
    c = _s(phone="13900139000", sid="s3", ac="ac2")
    for s in (a, b, c):
        reg.open(s)
    assert reg.get("ac1", "s1") == a
    assert reg.get("ac1", "s|2", phone=a.phone) == b
    assert reg.by_phone(a.phone) == [a, b]
    assert sorted(x.session_id for x in reg.by_ac("ac1")) == ["s1", "s|2"]
    assert [x.session_id for x in reg.by_ac("ac2")] == ["s3"]
    assert len(reg.all()) == 3 and reg.count() == 3
    assert reg.count_for_phone(a.phone) == 2
    assert reg.count_for_phone(a.phone, exclude_mac="AA-BB-CC-DD-EE-01") == 1
    closed = reg.close("ac1", "s1")
    assert closed == a
    assert reg.get("ac1", "s1") is None
    assert reg.close("ac1", "s1") is None  # idempotent
    assert redis_client.get(keys.session_tombstone(a.phone, "ac1", "s1")) == b"0,0,0"
    assert reg.count() == 2
    assert redis_client.hget(keys.ac_sessions("ac1"), "s1") is None


def test_update_moves_deadline(redis_client: Any) -> None:
    reg = SessionRegistry(redis_client, grace=60)
    s = _s()
    reg.open(s)
    assert [x.session_id for x in reg.stale(1000 + 600 + 60)] == ["s1"]
    upd = reg.update("ac1", "s1", s.phone, now=1500, session_time=500, input_octets=10,
                     output_octets=20, ip="10.0.0.9")
    assert upd is not None and upd.session_time == 500 and upd.ip == "10.0.0.9"
    assert reg.stale(1000 + 660) == []
    assert [x.session_id for x in reg.stale(1500 + 660)] == ["s1"]
    assert reg.update("ac1", "nope", s.phone, now=1, session_time=1, input_octets=1,
                      output_octets=1) is None


def test_stale_and_count_ignore_silent_sessions(redis_client: Any) -> None:
    reg = SessionRegistry(redis_client, grace=60)
    reg.open(_s(sid="old", updated=0))
    reg.open(_s(sid="new", updated=5000, mac="aa:bb:cc:dd:ee:02"))
    assert reg.count_for_phone("13800138000", now=5000) == 1
    assert [x.session_id for x in reg.stale(5000)] == ["old"]


def test_close_only_if_silent_keeps_a_refreshed_session(redis_client: Any) -> None:
    reg = SessionRegistry(redis_client, grace=60)
    s = _s(updated=1000)
    reg.open(s)
    # the index says silent at 1660 but the record was refreshed meanwhile
    redis_client.hset(keys.phone_sessions(s.phone), s.field, encode_record(_s(updated=1600)))
    assert reg.close("ac1", "s1", silent_before=1700) is None
    assert reg.get("ac1", "s1") is not None
    assert redis_client.zscore(keys.session_deadlines(), f"{s.phone}|ac1|s1") == 1600 + 660
    assert reg.close("ac1", "s1", silent_before=2300) is not None


def test_dangling_index_entries_are_ignored_and_cleaned(redis_client: Any) -> None:
    reg = SessionRegistry(redis_client, grace=60)
    s = _s()
    reg.open(s)
    redis_client.delete(keys.phone_sessions(s.phone))  # record gone, indexes left behind
    assert reg.by_ac("ac1") == [] and reg.all() == [] and reg.stale(10**10) == []
    assert reg.close("ac1", "s1") is None
    assert reg.count() == 0 and redis_client.hlen(keys.ac_sessions("ac1")) == 0


def test_with_plan(redis_client: Any) -> None:
    reg = SessionRegistry(redis_client)
    s = _s()
    reg.open(s)
    reg.with_plan(s, "gold")
    got = reg.get("ac1", "s1")
    assert got is not None and got.plan == "gold"


def test_plan_index_follows_open_plan_change_and_close(redis_client: Any) -> None:
    """A changed plan finds its online sessions in the per-plan index."""
    reg = SessionRegistry(redis_client)
    a = OnlineSession("ac1", "a", "18900000001", plan="basic", started=1, updated=2)
    b = OnlineSession("ac1", "b", "18900000002", plan="basic", started=1, updated=2)
    c = OnlineSession("ac2", "c", "18900000003", plan="", started=1, updated=2)   # Class-less
    for s in (a, b, c):
        reg.open(s)
    assert sorted(s.session_id for s in reg.by_plan("basic")) == ["a", "b"]
    assert [s.session_id for s in reg.by_plan("")] == ["c"]
    assert reg.count_by_plan(["basic", "", "gold"]) == {"basic": 2, "": 1, "gold": 0}
    reg.with_plan(b, "basic@0123456789")                 # pinned to a revision: moves over
    assert [s.session_id for s in reg.by_plan("basic")] == ["a"]
    assert [s.session_id for s in reg.by_plan("basic@0123456789")] == ["b"]
    reg.close("ac1", "a", a.phone)
    assert reg.by_plan("basic") == [] and reg.count_by_plan(["basic"]) == {"basic": 0}
    # A dangling entry (record gone, index write lost) is dropped by the reader.
    redis_client.hset(keys.plan_sessions("basic"), "ac9|ghost", "18900000009")
    assert reg.by_plan("basic") == [] and not redis_client.hexists(keys.plan_sessions("basic"), "ac9|ghost")


def test_repair_puts_the_plan_index_right(redis_client: Any) -> None:
    reg = SessionRegistry(redis_client)
    s = OnlineSession("ac1", "a", "18900000001", plan="basic", started=1, updated=2)
    reg.open(s)
    redis_client.delete(keys.plan_sessions("basic"))                     # a lost write
    redis_client.hset(keys.plan_sessions("gold"), "ac1|a", s.phone)       # a stale one
    redis_client.hset(keys.plan_defs(), "gold", '{"name": "gold"}')
    report = repair_indexes(reg, [])
    assert (report.added, report.removed) == (1, 1)
    assert [x.session_id for x in reg.by_plan("basic")] == ["a"]
    assert redis_client.hlen(keys.plan_sessions("gold")) == 0


def test_the_deadline_index_is_a_skip_list_from_its_first_session(redis_client: Any) -> None:
    """The embedded Redis (as deploy/redis/redis.conf) keeps the deadline index, which every
    Interim-Update rescores, a skip list at every size: as a listpack (Redis's default up to 128
    members) every update scanned all of it. Order and answers are the same either way."""
    reg = SessionRegistry(redis_client, grace=60)
    for n in range(3):
        reg.open(_s(sid=f"s{n}", updated=1000 + n))
    assert redis_client.object("encoding", keys.session_deadlines()) == b"skiplist"
    assert [s.session_id for s in reg.all()] == ["s0", "s1", "s2"]
