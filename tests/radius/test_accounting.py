"""Accounting: idempotency, gigawords, Stop/tombstones, Accounting-On/Off, reaper, durable log."""

from __future__ import annotations

import dataclasses
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from portal.aaa.acs import AcRecord
from portal.aaa.grants import ClassSigner
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import SessionRegistry
from portal.aaa.usage import UsageBook
from portal.runtime.settings import QuotaSettings
from portal.state import keys
from portal.state.embedded import EmbeddedRedis
from radius.accounting import AccountingProcessor, AcctRecord, AcctStatus
from radius.reaper import reap
from radius.resp import RespClient

AC = AcRecord(name="ac1", addresses=("127.0.0.1",), secret="s")
AC2 = AcRecord(name="ac2", addresses=("127.0.0.2",), secret="s")
PHONE = "13800138000"
T0 = 1_800_000_000.0
SIGNER = ClassSigner(b"k" * 32)


def class_for(ac: AcRecord = AC, sid: str = "S1") -> bytes:
    """The signed Class the server would have put in the Access-Accept of this session's login
    (one login per session: the session id doubles as the login's nonce)."""
    return SIGNER.make(PHONE, "basic", T0, ac.name, sid.encode())


CLS = class_for()


def _rec(status: AcctStatus, sid: str = "S1", t: int = 0, i: int = 0, o: int = 0,
         *, ac: AcRecord = AC, **kw: Any) -> AcctRecord:
    base: dict[str, Any] = dict(status=int(status), session_id=sid, user_name=PHONE,
                                calling_station_id="AA-BB-CC-DD-EE-01", framed_ip="10.0.0.5",
                                nas_ip="127.0.0.1", session_time=t, input_octets=i,
                                output_octets=o, class_=class_for(ac, sid))
    base.update(kw)
    return AcctRecord(**base)


@pytest.fixture(params=["redis-py", "resp"])
def proc(request: pytest.FixtureRequest, redis_client: Any, redis_url: str) -> Iterator[AccountingProcessor]:
    """Both pipelines the processor queues on: redis-py's (Cluster, acct_wait_replicas) and the
    worker's own RESP pipeline, whose commands are pre-encoded (radius/acct_wire.py)."""
    PlanStore(redis_client, cache_ttl=0).put(Plan("basic", interim_interval=300))
    fast = RespClient(redis_url) if request.param == "resp" else None
    yield AccountingProcessor(redis_client, settings=QuotaSettings(plan_cache_ttl=0), grace=60,
                              class_signer=SIGNER, fast=fast)
    if fast is not None:
        fast.close()


def _usage(redis_client: Any, now: float = T0) -> tuple[int, int, int, int]:
    u = UsageBook(redis_client).get(PHONE, now)
    return u.daily_time, u.daily_volume, u.total_time, u.total_volume


def test_start_interim_stop(redis_client: Any, proc: AccountingProcessor) -> None:
    reg = SessionRegistry(redis_client, grace=60)
    proc.process(AC, _rec(AcctStatus.START), T0)
    s = reg.get("ac1", "S1")
    assert s is not None and s.phone == PHONE and s.mac == "aa:bb:cc:dd:ee:01"
    assert (s.plan, s.interim, s.ip, s.started) == ("basic", 300, "10.0.0.5", int(T0))
    assert reg.count_for_phone(PHONE) == 1 and [x.session_id for x in reg.by_ac("ac1")] == ["S1"]
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=300, i=1000, o=5000), T0 + 300)
    assert _usage(redis_client) == (300, 6000, 300, 6000)
    proc.process(AC, _rec(AcctStatus.STOP, t=400, i=1500, o=6000, terminate_cause=1), T0 + 400)
    assert _usage(redis_client) == (400, 7500, 400, 7500)
    assert reg.get("ac1", "S1") is None and reg.count() == 0
    assert redis_client.get(keys.session_tombstone(PHONE, "ac1", "S1")) == b"400,1500,6000"
    assert UsageBook(redis_client).get(PHONE, T0).first_login == int(T0)


def test_replays_change_nothing(redis_client: Any, proc: AccountingProcessor) -> None:
    proc.process(AC, _rec(AcctStatus.START), T0)
    proc.process(AC, _rec(AcctStatus.START), T0 + 1)  # replayed Start
    interim = _rec(AcctStatus.INTERIM_UPDATE, t=300, i=1000, o=5000)
    proc.process(AC, interim, T0 + 300)
    snap_usage = redis_client.hgetall(keys.usage(PHONE))
    snap_ses = redis_client.hgetall(keys.phone_sessions(PHONE))
    # the same Interim again (new Identifier / Acct-Delay-Time on the wire), much later
    proc.process(AC, dataclasses.replace(interim, delay_time=5), T0 + 330)
    # an older Interim arriving out of order
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=200, i=500, o=100), T0 + 331)
    assert redis_client.hgetall(keys.usage(PHONE)) == snap_usage
    assert redis_client.hgetall(keys.phone_sessions(PHONE)) == snap_ses
    stop = _rec(AcctStatus.STOP, t=600, i=2000, o=6000)
    proc.process(AC, stop, T0 + 600)
    after_stop = _usage(redis_client)
    proc.process(AC, stop, T0 + 601)                    # replayed Stop
    proc.process(AC, interim, T0 + 602)                 # very late Interim
    proc.process(AC, _rec(AcctStatus.START), T0 + 603)  # very late Start replay
    assert _usage(redis_client) == after_stop == (600, 8000, 600, 8000)
    assert SessionRegistry(redis_client).by_phone(PHONE) == []  # no ghost session


def test_gigawords_are_folded_in(redis_client: Any, proc: AccountingProcessor) -> None:
    proc.process(AC, _rec(AcctStatus.START), T0)
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=300, i=2**32 - 100, o=0,
                          input_gigawords=0, output_gigawords=0), T0 + 300)
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=600, i=50, o=0,
                          input_gigawords=1, output_gigawords=0), T0 + 600)
    assert _usage(redis_client)[3] == 2**32 + 50
    s = SessionRegistry(redis_client).get("ac1", "S1")
    assert s is not None and s.input_octets == 2**32 + 50


def test_wrap_without_gigawords(redis_client: Any, proc: AccountingProcessor) -> None:
    proc.process(AC, _rec(AcctStatus.START), T0)
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=300, i=2**32 - 100), T0 + 300)
    # the 32-bit counter wrapped and the NAS sends no Gigawords; time moved on
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=600, i=400), T0 + 600)
    assert _usage(redis_client)[3] == 2**32 + 400
    # a replay of the pre-wrap update (time did not move) is not a second wrap
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=300, i=2**32 - 100), T0 + 601)
    assert _usage(redis_client)[3] == 2**32 + 400


def test_interim_or_stop_without_start(redis_client: Any, proc: AccountingProcessor) -> None:
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, sid="X", t=120, i=10, o=10), T0)
    s = SessionRegistry(redis_client).get("ac1", "X")
    assert s is not None and s.started == int(T0) - 120
    proc.process(AC, _rec(AcctStatus.STOP, sid="Y", t=60, i=1, o=1), T0)
    assert SessionRegistry(redis_client).get("ac1", "Y") is None
    assert _usage(redis_client) == (180, 22, 180, 22)


def test_phone_found_without_class(redis_client: Any, proc: AccountingProcessor) -> None:
    proc.process(AC, _rec(AcctStatus.START), T0)
    # this AC does not echo Class and puts a token in User-Name
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=60, i=1, o=1, class_=None,
                          user_name="tok-123"), T0 + 60)
    assert _usage(redis_client)[0] == 60
    # An unknown session without a Class we signed is nobody's: logged as refused, not booked
    # (any AC could otherwise charge any number by naming it) ...
    proc.process(AC, _rec(AcctStatus.START, sid="Z", class_=None, user_name="13900139000"), T0)
    assert SessionRegistry(redis_client).get("ac1", "Z", phone="13900139000") is None
    last = redis_client.xrevrange(keys.acct_log(), count=1)[0][1]
    assert (last[b"k"], last[b"why"], last[b"sid"]) == (b"rejected", b"unbound", b"Z")
    assert redis_client.hget(keys.ac_stats("ac1"), "acct_rejected:unbound") == b"1"
    assert proc.metrics.get("acct_rejected.unbound.ac1") == 1
    # ... unless the operator trusts User-Name (ACs that never echo Class).
    trusting = AccountingProcessor(
        redis_client, settings=QuotaSettings(plan_cache_ttl=0, acct_trust_user_name=True))
    trusting.process(AC, _rec(AcctStatus.START, sid="Z", class_=None, user_name="13900139000"), T0)
    assert SessionRegistry(redis_client).get("ac1", "Z", phone="13900139000") is not None


def test_accounting_on_closes_only_that_acs_older_sessions(
    redis_client: Any, proc: AccountingProcessor
) -> None:
    reg = SessionRegistry(redis_client)
    proc.process(AC, _rec(AcctStatus.START, sid="A"), T0)
    proc.process(AC, _rec(AcctStatus.START, sid="B"), T0 + 10)
    proc.process(AC2, _rec(AcctStatus.START, sid="C", ac=AC2), T0)
    on = AcctRecord(status=int(AcctStatus.ACCOUNTING_ON), nas_ip="127.0.0.1", delay_time=0)
    proc.process(AC, on, T0 + 100)
    assert reg.by_ac("ac1") == [] and [s.session_id for s in reg.by_ac("ac2")] == ["C"]
    assert redis_client.hlen(keys.ac_sessions("ac1")) == 0
    proc.process(AC, _rec(AcctStatus.START, sid="D"), T0 + 200)
    # the same Accounting-On retransmitted late (Acct-Delay-Time says it is about T0 + 100)
    proc.process(AC, dataclasses.replace(on, delay_time=150), T0 + 250)
    assert [s.session_id for s in reg.by_ac("ac1")] == ["D"]
    proc.process(AC2, AcctRecord(status=int(AcctStatus.ACCOUNTING_OFF)), T0 + 300)
    assert reg.by_ac("ac2") == []
    kinds = [e[1][b"k"] for e in redis_client.xrange(keys.acct_log())]
    assert kinds.count(b"nas-on") == 2 and kinds.count(b"nas-off") == 1
    # a Stop that arrives after the reboot close books only what was not seen yet
    proc.process(AC, _rec(AcctStatus.STOP, sid="A", t=0), T0 + 400)
    assert _usage(redis_client)[0] == 0


def test_reaper_closes_silent_sessions_and_a_late_interim_revives(
    redis_client: Any, proc: AccountingProcessor
) -> None:
    reg = SessionRegistry(redis_client, grace=60)
    proc.process(AC, _rec(AcctStatus.START, sid="old"), T0)
    proc.process(AC, _rec(AcctStatus.START, sid="new"), T0 + 500)
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, sid="old", t=100, i=10), T0 + 100)
    deadline = T0 + 100 + 2 * 300 + 60
    assert reap(reg, deadline - 1) == []
    closed = reap(reg, deadline + 1)
    assert [s.session_id for s in closed] == ["old"]
    assert [s.session_id for s in reg.all()] == ["new"]
    assert reg.count_for_phone(PHONE) == 1
    log = [e[1] for e in redis_client.xrange(keys.acct_log()) if e[1][b"k"] == b"reaped"]
    assert len(log) == 1 and log[0][b"sid"] == b"old" and log[0][b"t"] == b"100"
    # it was alive after all: the next Interim re-opens it and books only the new part
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, sid="old", t=900, i=20), T0 + 900)
    assert reg.get("ac1", "old") is not None
    assert _usage(redis_client, T0 + 900)[2:] == (900, 20)


def test_durable_log_contents(redis_client: Any, proc: AccountingProcessor) -> None:
    rec = _rec(AcctStatus.INTERIM_UPDATE, t=300, i=7, o=9, input_gigawords=1,
               input_packets=3, output_packets=4, event_timestamp=int(T0), delay_time=2,
               called_station_id="00-11-22-33-44-55:CityWiFi", nas_identifier="ac-1")
    proc.process(AC, rec, T0 + 300.25)
    proc.process(AC, AcctRecord(status=99, session_id="odd"), T0 + 301)
    entries = redis_client.xrange(keys.acct_log())
    assert len(entries) == 2
    e = {k.decode(): v.decode() for k, v in entries[0][1].items()}
    assert e == {
        "k": "acct", "ac": "ac1", "at": f"{T0 + 300.25:.3f}", "ph": PHONE, "st": "3",
        "sid": "S1", "un": PHONE, "mac": "AA-BB-CC-DD-EE-01", "called": "00-11-22-33-44-55:CityWiFi",
        "ip": "10.0.0.5", "nas": "127.0.0.1", "nasid": "ac-1", "t": "300", "ipk": "3", "opk": "4",
        "ets": str(int(T0)), "dly": "2", "cls": CLS.hex(), "in": str(2**32 + 7), "out": "9",
    }
    assert entries[1][1][b"k"] == b"other"  # unknown status: logged, no state


def test_redis_failure_raises(proc: AccountingProcessor) -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5,
                       retry=Retry(NoBackoff(), 0))
    broken = AccountingProcessor(dead, settings=QuotaSettings())
    with pytest.raises(redis.exceptions.ConnectionError):
        broken.process(AC, _rec(AcctStatus.START, class_=None), T0)


def test_accepted_records_survive_a_redis_crash(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r", port=0).start()
    try:
        client = redis.Redis.from_url(server.url)
        p = AccountingProcessor(client, settings=QuotaSettings(), class_signer=SIGNER)
        for n in range(20):
            p.process(AC, _rec(AcctStatus.START, sid=f"S{n}"), T0)
        time.sleep(1.5)  # appendfsync everysec
        server.kill()    # SIGKILL: no shutdown save
        client.close()
        server.start()
        client = redis.Redis.from_url(server.url)
        assert client.xlen(keys.acct_log()) == 20
        assert SessionRegistry(client).count() == 20
        client.close()
    finally:
        server.stop()


def test_from_packet_reads_a_request_pyrad_encoded(redis_client: Any) -> None:
    from pyrad.packet import AcctPacket

    from radius import wire
    from radius.dictionary import load_dictionary

    pkt = AcctPacket(secret=b"s", dict=load_dictionary())
    pkt["Acct-Status-Type"] = "Interim-Update"
    pkt["Acct-Session-Id"] = "SID-9"
    pkt["User-Name"] = PHONE
    pkt["Calling-Station-Id"] = "aa-bb-cc-dd-ee-01"
    pkt["Framed-IP-Address"] = "10.1.2.3"
    pkt["Acct-Session-Time"] = 77
    pkt["Acct-Input-Octets"] = 5
    pkt["Acct-Input-Gigawords"] = 2
    pkt["Acct-Output-Octets"] = 6
    pkt["Class"] = CLS
    pkt["Acct-Delay-Time"] = 3
    # pyrad is the independent encoder; the server decodes with radius.wire.
    rec = AcctRecord.from_packet(wire.decode(pkt.RequestPacket()))
    assert (rec.status, rec.session_id, rec.session_time, rec.framed_ip) == (3, "SID-9", 77, "10.1.2.3")
    assert (rec.input_total, rec.output_total, rec.class_, rec.delay_time) == (2 * 2**32 + 5, 6, CLS, 3)
    assert (rec.user_name, rec.calling_station_id) == (PHONE, "aa-bb-cc-dd-ee-01")
    # malformed values never raise
    bad = AcctRecord.from_first({40: b"\x00", 8: b"\x01\x02"}.get)
    assert bad.status is None and bad.framed_ip is None


def test_handle_acct_is_the_server_hook(redis_client: Any, proc: AccountingProcessor) -> None:
    from radius import wire

    attrs = [(40, struct.pack("!I", 1)), (44, b"W1"), (1, PHONE.encode()), (25, class_for(sid="W1"))]
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attrs)
    raw = struct.pack("!BBH", 4, 1, 20 + len(body)) + bytes(16) + body
    proc.handle_acct(wire.decode(raw), AC, b"s", T0)
    assert SessionRegistry(redis_client).get("ac1", "W1") is not None


def test_reaper_loop_runs_until_stopped(redis_client: Any, proc: AccountingProcessor) -> None:
    import threading

    from radius.reaper import run_reaper

    proc.process(AC, _rec(AcctStatus.START, sid="gone"), T0)
    stop = threading.Event()
    clock = [T0 + 100]  # not silent yet
    worker = threading.Thread(target=run_reaper, args=(redis_client,),
                              kwargs={"interval": 0.05, "grace": 60, "stop": stop,
                                      "clock": lambda: clock[0]})
    worker.start()
    try:
        time.sleep(0.2)
        assert SessionRegistry(redis_client).count() == 1
        clock[0] = T0 + 2 * 300 + 61
        deadline = time.monotonic() + 5
        while SessionRegistry(redis_client).count() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert SessionRegistry(redis_client).count() == 0
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive()


def test_session_records_where_it_started_and_venue_index_follows(redis_client: Any,
                                                                   proc: AccountingProcessor) -> None:
    """One AC serves two venues by SSID: each session records the SSID and venue of its
    Accounting-Start, keeps them when the phone roams, and the per-venue index follows every
    way a session ends (Stop, Accounting-On)."""
    from portal.venues.venue_store import Venue, VenueStore

    venues = VenueStore(redis_client, cache_ttl=0)
    venues.put(Venue(id="library", acs=("ac1",), ssids=("Lib",)))
    venues.put(Venue(id="mall", acs=("ac1",), ssids=("Mall",)))
    reg = SessionRegistry(redis_client, grace=60)
    proc.process(AC, _rec(AcctStatus.START, "S1", called_station_id="00-11-22-33-44-55:Mall"), T0)
    proc.process(AC, _rec(AcctStatus.START, "S2", called_station_id="00-11-22-33-44-66:Lib",
                          calling_station_id="AA-BB-CC-DD-EE-02"), T0)
    s1 = reg.get("ac1", "S1")
    assert s1 is not None and (s1.ssid, s1.venue) == ("Mall", "mall")
    assert reg.count_by_venue(["library", "mall"]) == {"library": 1, "mall": 1}
    assert [s.session_id for s in reg.by_venue("mall")] == ["S1"]
    # Roaming: an Interim-Update from an AP on the other SSID does not move the session.
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, "S1", t=300, i=10,
                          called_station_id="00-11-22-33-44-66:Lib"), T0 + 300)
    s1 = reg.get("ac1", "S1")
    assert s1 is not None and s1.venue == "mall" and s1.session_time == 300
    assert reg.count_by_venue(["library", "mall"]) == {"library": 1, "mall": 1}
    proc.process(AC, _rec(AcctStatus.STOP, "S1", t=400, i=20), T0 + 400)
    assert reg.count_by_venue(["library", "mall"]) == {"library": 1, "mall": 0}
    proc.process(AC, _rec(AcctStatus.ACCOUNTING_ON, ""), T0 + 500)     # the AC rebooted
    assert reg.count_by_venue(["library", "mall"]) == {"library": 0, "mall": 0}
    assert reg.count() == 0


def test_plan_index_follows_start_stop_and_accounting_on(redis_client: Any,
                                                        proc: AccountingProcessor) -> None:
    """The per-plan index (a changed plan reaches its online sessions without a
    scan) is written with the venue index for every way a session starts and ends."""
    reg = SessionRegistry(redis_client, grace=60)
    proc.process(AC, _rec(AcctStatus.START, "S1"), T0)
    proc.process(AC, _rec(AcctStatus.START, "S2", calling_station_id="AA-BB-CC-DD-EE-02"), T0)
    assert sorted(s.session_id for s in reg.by_plan("basic")) == ["S1", "S2"]     # from Class
    proc.process(AC, _rec(AcctStatus.STOP, "S1", t=10), T0 + 10)
    assert [s.session_id for s in reg.by_plan("basic")] == ["S2"]
    assert redis_client.hkeys(keys.plan_sessions("basic")) == [b"ac1|S2"]
    proc.process(AC, _rec(AcctStatus.ACCOUNTING_ON, ""), T0 + 20)
    assert redis_client.hlen(keys.plan_sessions("basic")) == 0
    assert redis_client.hlen(keys.plan_sessions("")) == 0



def test_index_repair_puts_lost_and_stale_entries_right(redis_client: Any,
                                                         proc: AccountingProcessor) -> None:
    """The venue, SSID, MAC and IP indexes are written after the accounting script: a crash or a
    Stop racing its own Start on another worker can leave an entry missing or stale. The
    maintenance process's repair (one process of the fleet per interval) puts both right."""
    from portal.aaa.session_index import index_entries, ip_bucket, mac_bucket
    from portal.venues.venue_store import Venue, VenueStore
    from radius.reaper import repair_indexes

    VenueStore(redis_client, cache_ttl=0).put(Venue(id="mall", acs=("ac1",), ssids=("Mall",)))
    reg = SessionRegistry(redis_client, grace=60)
    for sid, mac in (("S1", "AA-BB-CC-DD-EE-01"), ("S2", "AA-BB-CC-DD-EE-02")):
        proc.process(AC, _rec(AcctStatus.START, sid, calling_station_id=mac,
                              called_station_id="00-11-22-33-44-55:Mall"), T0)
    s1 = reg.get("ac1", "S1")
    assert s1 is not None
    right = {key: sorted(redis_client.hgetall(key).items()) for key, _ in index_entries(s1)}
    for key, field in index_entries(s1):                                       # lost writes
        redis_client.hdel(key, field)
    redis_client.hset(keys.venue_sessions("mall"), "ac1|GONE", PHONE)         # late ones
    redis_client.hset(keys.ssid_sessions("Old"), "ac1|GONE", PHONE)
    redis_client.sadd(keys.ssid_index_names(), "Old")
    redis_client.hset(mac_bucket("aa:bb:cc:dd:ee:09"), "aa:bb:cc:dd:ee:09|ac1|GONE", PHONE)
    redis_client.hset(ip_bucket("10.9.9.9"), "10.9.9.9|ac1|S2", PHONE)        # S2's IP is .5
    assert reg.count_by_venue(["mall"]) == {"mall": 2}                       # right by accident
    assert repair_indexes(reg) is True
    assert {key: sorted(redis_client.hgetall(key).items()) for key in right} == right
    assert sorted(redis_client.hkeys(keys.venue_sessions("mall"))) == [b"ac1|S1", b"ac1|S2"]
    assert not redis_client.exists(keys.ssid_sessions("Old"), mac_bucket("aa:bb:cc:dd:ee:09"))
    assert redis_client.hget(ip_bucket("10.9.9.9"), "10.9.9.9|ac1|S2") is None
    assert redis_client.smembers(keys.ssid_index_names()) == {b"Mall"}
    assert repair_indexes(reg) is False                                      # someone just did


def test_script_is_all_or_nothing(redis_client: Any, proc: AccountingProcessor) -> None:
    """The script checks before its first write: a record it refuses changes nothing (before,
    an overflow in the middle left the daily time booked and the total not)."""
    proc.process(AC, _rec(AcctStatus.START), T0)
    redis_client.hset(keys.usage(PHONE), mapping={"tv": 2**53 - 10})
    before = (redis_client.hgetall(keys.usage(PHONE)), redis_client.hgetall(keys.phone_sessions(PHONE)))
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=60, i=100), T0 + 60)
    assert (redis_client.hgetall(keys.usage(PHONE)),
            redis_client.hgetall(keys.phone_sessions(PHONE))) == before
    last = redis_client.xrevrange(keys.acct_log(), count=1)[0][1]
    assert (last[b"k"], last[b"why"]) == (b"rejected", b"usage_overflow")


def test_a_failing_record_does_not_disturb_its_batch(redis_client: Any,
                                                     proc: AccountingProcessor) -> None:
    """A record the script fails on (here: a corrupt session record) fails alone; the others of
    the drained batch are stored once and reported stored (the server answers them)."""
    from radius import wire

    def datagram(status: int, sid: str, t: int) -> Any:
        attrs = [(40, struct.pack("!I", status)), (44, sid.encode()), (1, PHONE.encode()),
                 (25, class_for(sid=sid)), (46, struct.pack("!I", t))]
        body = b"".join(bytes((a, len(v) + 2)) + v for a, v in attrs)
        return wire.decode(struct.pack("!BBH", 4, 1, 20 + len(body)) + bytes(16) + body)

    redis_client.hset(keys.phone_sessions(PHONE), "ac1|BAD", "{not json")
    items = [(datagram(2, "A", 30), AC, b"s"), (datagram(3, "BAD", 30), AC, b"s"),
             (datagram(2, "B", 40), AC, b"s")]
    out = proc.handle_acct_batch(items, T0 + 60)
    assert out[0] is None and out[2] is None
    assert isinstance(out[1], Exception)
    assert _usage(redis_client, T0 + 60) == (70, 0, 70, 0)
    logouts = [f for _, f in redis_client.xrange(keys.real_name_log())]
    assert sorted(f[b"sid"] for f in logouts) == [b"A", b"B"]


def test_a_record_in_another_json_spelling_is_decoded(redis_client: Any,
                                                      proc: AccountingProcessor) -> None:
    """The script tells a replayed Interim-Update from the record's "t"/"i"/"o" without decoding
    it; a record spelt otherwise (spaces, as Python's json.dumps writes by default) is decoded:
    a replay still books nothing, a new update books its delta."""
    import json

    proc.process(AC, _rec(AcctStatus.START), T0)
    field = "ac1|S1"
    rec = json.loads(redis_client.hget(keys.phone_sessions(PHONE), field))
    rec.update(t=300, i=1000, o=5000)
    redis_client.hset(keys.phone_sessions(PHONE), field, json.dumps(rec))   # '"t": 300'
    before = _usage(redis_client)
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=300, i=1000, o=5000), T0 + 300)
    assert _usage(redis_client) == before
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=360, i=1100, o=5200), T0 + 360)
    assert _usage(redis_client) == (before[0] + 60, before[1] + 300, before[2] + 60, before[3] + 300)


def test_usage_booking_new_day_and_first_login(redis_client: Any, proc: AccountingProcessor) -> None:
    """One HSET of the sums books what add_usage's HINCRBYs booked: the daily counters start
    again on a new local day (even over garbage, which the old day's reset overwrote), the
    totals go on, the first login is set once and then kept."""
    proc.process(AC, _rec(AcctStatus.START), T0)
    redis_client.delete(keys.usage(PHONE))
    redis_client.hset(keys.usage(PHONE), mapping={"d": "19990101", "dt": "x", "dv": 500, "tt": 1000,
                                                  "tv": 2000})
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=60, i=100, o=200), T0 + 60)
    raw = redis_client.hgetall(keys.usage(PHONE))
    today = UsageBook(redis_client).today(T0 + 60)
    assert raw == {b"d": today.encode(), b"dt": b"60", b"dv": b"300", b"tt": b"1060",
                   b"tv": b"2300", b"f": str(int(T0 + 60)).encode()}
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=90, i=150, o=200), T0 + 90)
    raw = redis_client.hgetall(keys.usage(PHONE))
    assert (raw[b"dt"], raw[b"dv"], raw[b"tt"], raw[b"tv"], raw[b"f"]) == (
        b"90", b"350", b"1090", b"2350", str(int(T0 + 60)).encode())


def test_a_counter_that_is_not_a_number_fails_the_record_and_writes_nothing(
        redis_client: Any, proc: AccountingProcessor) -> None:
    """HINCRBY refused a counter that is not an integer; the one HSET of the sums refuses it too,
    before anything is written (the session's counters and the usage stay as they were)."""
    proc.process(AC, _rec(AcctStatus.START), T0)
    redis_client.hset(keys.usage(PHONE), mapping={"tt": "12.5"})
    before = (redis_client.hgetall(keys.usage(PHONE)), redis_client.hgetall(keys.phone_sessions(PHONE)))
    with pytest.raises(Exception, match="not an integer"):
        proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, t=60, i=100), T0 + 60)
    assert (redis_client.hgetall(keys.usage(PHONE)),
            redis_client.hgetall(keys.phone_sessions(PHONE))) == before


def test_the_settings_written_into_the_script_apply(redis_client: Any) -> None:
    """acct_lua writes the tombstone lifetime and the clock skew into the script (no longer
    arguments): a Stop's tombstone lives tombstone_ttl, and a session whose time runs ahead of
    our clock by more than the skew is refused ('time_ahead')."""
    PlanStore(redis_client, cache_ttl=0).put(Plan("basic", interim_interval=300))
    proc = AccountingProcessor(redis_client, settings=QuotaSettings(
        plan_cache_ttl=0, tombstone_ttl=1234, acct_clock_skew=30), grace=60, class_signer=SIGNER)
    cls = SIGNER.make(PHONE, "basic", T0 - 3600, AC.name, b"K1")     # logged in an hour before
    proc.process(AC, _rec(AcctStatus.START, sid="K1", class_=cls), T0)
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, sid="K1", t=100, i=10, class_=cls), T0 + 60)
    last = redis_client.xrevrange(keys.acct_log(), count=1)[0][1]           # 40 s ahead: refused
    assert (last[b"k"], last[b"why"]) == (b"rejected", b"time_ahead")
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, sid="K1", t=80, i=10, class_=cls), T0 + 60)
    assert redis_client.xrevrange(keys.acct_log(), count=1)[0][1][b"k"] == b"acct"   # 20 s: booked
    proc.process(AC, _rec(AcctStatus.STOP, sid="K1", t=90, i=20, class_=cls), T0 + 90)
    assert 1200 < redis_client.ttl(keys.session_tombstone(PHONE, "ac1", "K1")) <= 1234


def test_a_signed_session_without_user_name_is_booked(redis_client: Any, proc: AccountingProcessor) -> None:
    """User-Name is optional in accounting (RFC 2866 §5.1 only says SHOULD): an AC that echoes the
    signed Class but leaves User-Name out is a real session, booked like any other. The session
    record's alias field once received None there, which redis-py refused as bad data and the
    worker took for a Redis outage: the whole batch went unanswered."""
    reg = SessionRegistry(redis_client, grace=60)
    proc.process(AC, _rec(AcctStatus.START, sid="N1", user_name=None), T0)
    s = reg.get("ac1", "N1")
    assert s is not None and s.phone == PHONE
    proc.process(AC, _rec(AcctStatus.INTERIM_UPDATE, sid="N1", t=60, i=10, o=20, user_name=None),
                 T0 + 60)
    assert _usage(redis_client) == (60, 30, 60, 30)
