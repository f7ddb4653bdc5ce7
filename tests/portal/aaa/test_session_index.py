"""Session indexes by MAC, IP and SSID (portal/aaa/session_index.py): the NOC's searches find the
right sessions through every way a session starts, changes and ends — accounting Start,
Interim-Update with a new IP or from another SSID, Stop, the reaper, Accounting-Off, a kick —
and the indexes hold exactly the entries the live records call for (none dangling, none
missing) after each step. Real Redis; re-run on a Redis Cluster by tests/scale."""

from __future__ import annotations

import time
from typing import Any

import pytest

from portal.aaa.acs import AcRecord
from portal.aaa.grants import ClassSigner
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.session_index import BUCKETS, index_entries
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.aaa.usage import UsageBook
from portal.noc.session_search import SessionFilter, SessionQuery
from portal.runtime.settings import QuotaSettings
from portal.state import keys
from portal.venues.venue_store import FALLBACK, Venue, VenueStore
from radius.accounting import AccountingProcessor, AcctRecord, AcctStatus
from radius.reaper import reap

AC = AcRecord(name="ac1", addresses=("127.0.0.1",), secret="s")
AC2 = AcRecord(name="ac2", addresses=("127.0.0.2",), secret="s")
SIGNER = ClassSigner(b"k" * 32)
T0 = float(int(time.time()) - 3600)
SSIDS = ("Mall", "Lib")
VENUES = ("mall", "library", FALLBACK.id)


def phone(n: int) -> str:
    return f"1380013{n:04d}"


def acct(status: AcctStatus, n: int, *, ac: AcRecord = AC, t: int = 0, ssid: str = "Mall",
         ip: str | None = None, **kw: Any) -> AcctRecord:
    """Session ``S<n>`` of phone ``n`` from device ``…:<n>`` at AP ``00-11-22-33-44-55``."""
    base: dict[str, Any] = dict(
        status=int(status), session_id=f"S{n}", user_name=phone(n),
        calling_station_id=f"AA-BB-CC-DD-EE-{n:02X}", framed_ip=ip or f"10.0.0.{n}",
        called_station_id=f"00-11-22-33-44-55:{ssid}", nas_ip="127.0.0.1", session_time=t,
        input_octets=t * 10, output_octets=t * 20,
        class_=SIGNER.make(phone(n), "basic", T0, ac.name, f"S{n}".encode()))
    base.update(kw)
    return AcctRecord(**base)


@pytest.fixture
def proc(redis_client: Any) -> AccountingProcessor:
    PlanStore(redis_client, cache_ttl=0).put(Plan("basic", interim_interval=300))
    venues = VenueStore(redis_client, cache_ttl=0)
    venues.put(Venue(id="mall", acs=("ac1", "ac2"), ssids=("Mall",)))
    venues.put(Venue(id="library", acs=("ac1", "ac2"), ssids=("Lib",)))
    return AccountingProcessor(redis_client, settings=QuotaSettings(plan_cache_ttl=0), grace=60,
                               class_signer=SIGNER)


@pytest.fixture
def query(redis_client: Any) -> SessionQuery:
    return SessionQuery(redis_client, plans=PlanStore(redis_client, cache_ttl=0),
                        usage=UsageBook(redis_client), grace=60)


def found(query: SessionQuery, **flt: str) -> list[str]:
    page = query.search(SessionFilter.parse(flt), 0, 100)      # as the API parses it
    assert page.total == len(page.items)
    return sorted(v.session.session_id for v in page.items)


def index_contents(redis: Any) -> set[tuple[str, str, str]]:
    """(key, field, phone) of every entry of every venue, plan, SSID, MAC and IP index."""
    index_keys = [*(keys.mac_session_bucket(b) for b in range(BUCKETS)),
                  *(keys.ip_session_bucket(b) for b in range(BUCKETS)),
                  *(keys.ssid_sessions(s) for s in SSIDS), keys.ssid_unknown_sessions(),
                  *(keys.venue_sessions(v) for v in VENUES),
                  *(keys.plan_sessions(p) for p in ("", "basic"))]
    pipe = redis.pipeline(transaction=False)
    for key in index_keys:
        pipe.hgetall(key)
    return {(key, f.decode(), p.decode())
            for key, entries in zip(index_keys, pipe.execute(), strict=True)
            for f, p in entries.items()}


def assert_exact(redis: Any, online: int) -> None:
    """The indexes hold exactly what the ``online`` live records call for."""
    records = [s for n in range(1, 10) for s in SessionRegistry(redis).by_phone(phone(n))]
    assert len(records) == online
    expected = {(key, field, s.phone) for s in records for key, field in index_entries(s)}
    assert index_contents(redis) == expected


def test_search_follows_start_roam_stop_reaper_and_accounting_off(
        redis_client: Any, proc: AccountingProcessor, query: SessionQuery) -> None:
    proc.process(AC, acct(AcctStatus.START, 1), T0)
    proc.process(AC, acct(AcctStatus.START, 2, ssid="Lib"), T0)
    proc.process(AC2, acct(AcctStatus.START, 3, ac=AC2), T0)
    assert found(query, mac="aa:bb:cc:dd:ee:01") == ["S1"]
    assert found(query, ip="10.0.0.2") == ["S2"]
    assert found(query, ssid="Mall") == ["S1", "S3"] and found(query, ssid="Lib") == ["S2"]
    assert found(query, ssid="Mall", ac="ac2") == ["S3"]
    assert_exact(redis_client, 3)

    # Interim-Update: a new IP moves the session in the IP index; an AP on the other SSID (the
    # phone roamed) does not move it: a session belongs to the SSID and venue it started on.
    proc.process(AC, acct(AcctStatus.INTERIM_UPDATE, 1, t=300, ip="10.0.1.1", ssid="Lib"), T0 + 300)
    assert found(query, ip="10.0.0.1") == [] and found(query, ip="10.0.1.1") == ["S1"]
    assert found(query, ssid="Mall") == ["S1", "S3"] and found(query, ssid="Lib") == ["S2"]
    assert found(query, mac="AA-BB-CC-DD-EE-01") == ["S1"]
    assert_exact(redis_client, 3)
    # An Interim-Update without Framed-IP-Address keeps the IP.
    proc.process(AC, acct(AcctStatus.INTERIM_UPDATE, 1, t=600, framed_ip=None), T0 + 600)
    assert found(query, ip="10.0.1.1") == ["S1"]
    assert_exact(redis_client, 3)

    # Stop.
    proc.process(AC, acct(AcctStatus.STOP, 1, t=700, ip="10.0.1.1"), T0 + 700)
    assert found(query, mac="aa:bb:cc:dd:ee:01") == [] and found(query, ip="10.0.1.1") == []
    assert found(query, ssid="Mall") == ["S3"]
    assert_exact(redis_client, 2)

    # The reaper closes S2 (silent since T0; S3 was refreshed).
    proc.process(AC2, acct(AcctStatus.INTERIM_UPDATE, 3, ac=AC2, t=600), T0 + 600)
    closed = reap(SessionRegistry(redis_client, grace=60), T0 + 2 * 300 + 61)
    assert [s.session_id for s in closed] == ["S2"]
    assert found(query, ssid="Lib") == [] and found(query, mac="aa:bb:cc:dd:ee:02") == []
    assert found(query, ip="10.0.0.2") == []
    assert_exact(redis_client, 1)

    # Accounting-Off from ac2: its sessions are gone.
    proc.process(AC2, AcctRecord(status=int(AcctStatus.ACCOUNTING_OFF)), T0 + 800)
    assert found(query, ssid="Mall") == [] and found(query, ip="10.0.0.3") == []
    assert_exact(redis_client, 0)


def test_kick_and_revival_keep_the_indexes_exact(redis_client: Any, proc: AccountingProcessor,
                                                 query: SessionQuery) -> None:
    """A kick closes the session in the registry at once (radius/enforcement.py, on the AC's
    acknowledgement); its late Interim-Update revives it (tombstone) and re-indexes it."""
    proc.process(AC, acct(AcctStatus.START, 4), T0)
    reg = SessionRegistry(redis_client, grace=60)
    assert reg.close("ac1", "S4", phone(4)) is not None
    assert found(query, mac="aa:bb:cc:dd:ee:04") == [] and found(query, ssid="Mall") == []
    assert_exact(redis_client, 0)
    proc.process(AC, acct(AcctStatus.INTERIM_UPDATE, 4, t=300), T0 + 300)
    assert found(query, mac="aa:bb:cc:dd:ee:04") == ["S4"] and found(query, ip="10.0.0.4") == ["S4"]
    assert_exact(redis_client, 1)


def test_a_retransmitted_start_restores_index_writes_lost_with_the_first(
        redis_client: Any, proc: AccountingProcessor, query: SessionQuery) -> None:
    """The index writes follow the accounting script in a second pipeline; if the connection
    dropped between the two, the AC got no answer and retransmits the Start: the retransmission
    (a duplicate for the script) writes them again."""
    proc.process(AC, acct(AcctStatus.START, 5), T0)
    session = SessionRegistry(redis_client).get("ac1", "S5", phone(5))
    assert session is not None
    for key, field in index_entries(session):
        redis_client.hdel(key, field)
    assert found(query, mac="aa:bb:cc:dd:ee:05") == []
    proc.process(AC, acct(AcctStatus.START, 5), T0 + 2)
    assert found(query, mac="aa:bb:cc:dd:ee:05") == ["S5"] and found(query, ssid="Mall") == ["S5"]
    assert_exact(redis_client, 1)


def test_readers_drop_stale_entries(redis_client: Any, proc: AccountingProcessor,
                                    query: SessionQuery) -> None:
    """An entry whose session is gone (or no longer has that value) is never shown and is
    removed by the search that meets it."""
    proc.process(AC, acct(AcctStatus.START, 6), T0)
    redis_client.hdel(keys.phone_sessions(phone(6)), "ac1|S6")             # record lost
    assert found(query, mac="aa:bb:cc:dd:ee:06") == [] and found(query, ip="10.0.0.6") == []
    assert found(query, ssid="Mall") == []
    # (The venue and plan entries stay until a venue or plan search, or the repair, meets them.)
    assert index_contents(redis_client) == {(keys.venue_sessions("mall"), "ac1|S6", phone(6)),
                                            (keys.plan_sessions("basic"), "ac1|S6", phone(6))}


def test_a_large_share_is_paged_from_the_newest_without_reading_every_match(
        redis_client: Any, query: SessionQuery) -> None:
    """One SSID holding most sessions: the page is the newest matches (same order as reading
    them all), the total is the index's size, and far fewer records are read than match."""
    reg = SessionRegistry(redis_client, grace=60)
    now = int(time.time())
    pipe = redis_client.pipeline(transaction=False)
    for i in range(200):
        reg.open_in(pipe, OnlineSession(
            "ac1", f"W{i:03d}", f"1390000{i:04d}", mac=f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}",
            ip=f"10.1.{i >> 8}.{i & 255}", started=now - 1000, updated=now - 1000 + i, interim=300,
            ssid="Big" if i % 4 else "Small", venue="mall"))
    pipe.execute()
    newest_big = [f"W{i:03d}" for i in range(199, -1, -1) if i % 4]
    reads: list[int] = []
    fetch = query.registry.fetch

    def counting_fetch(refs: Any) -> list[OnlineSession]:
        got = fetch(refs)
        reads.append(len(got))
        return got

    query.registry.fetch = counting_fetch       # type: ignore[method-assign]
    for offset in (0, 20, 40):
        reads.clear()
        page = query.search(SessionFilter(ssid="Big"), offset, 20)
        assert page.total == 150
        assert [v.session.session_id for v in page.items] == newest_big[offset:offset + 20]
        assert sum(reads) < 150                  # not every match was read
    small = query.search(SessionFilter(ssid="Small"), 0, 20)
    assert small.total == 50 and all(v.session.ssid == "Small" for v in small.items)
    assert [v.session.session_id for v in small.items] == \
        [f"W{i:03d}" for i in range(199, -1, -1) if not i % 4][:20]
