"""Report roll-ups reconcile with the raw records over a simulated month.

The month is lived through in six-hour steps (controllable clock, like the archive tests): real-
name login and logout records are appended to the real Redis stream when they happen (a logout at
its stop time, so sessions spanning midnight land on the next day), the archive job moves old
days to sealed files at 03:30, the roll-up job runs every step. At the end every stored figure of
every day and scope is compared with a direct count over the generated records — in a zone with a
daylight-saving change (a 23-hour local day) and in Asia/Shanghai. SMS outcomes and RADIUS
refusals go through their real writers when they happen (``LiveStats.record_codes`` with the
login's place; a RADIUS worker's ``Metrics.refused`` drained by ``RejectFlusher`` through
``portal.commands.radius.refusal_places``) and are counted directly from the generated events.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from portal.commands.radius import refusal_places
from portal.legal.log_archive import ArchiveJob, day_bounds_ms
from portal.legal.logexport import LogExporter
from portal.legal.reallog import LoginRecord, logout_fields
from portal.noc.livestats import LiveStats, RejectFlusher
from portal.reports.job import ReportBusy, ReportJob
from portal.reports.query import ReportQuery, build_report
from portal.reports.reader import read_rows
from portal.reports.rollup import UNKNOWN, Login, Session, rollup_day, share
from portal.reports.store import ReportStore
from portal.state import keys
from portal.state import keys_reports as rk
from radius.metrics import Metrics

VENUES = {"ac-a": "plaza", "ac-b": "plaza", "ac-c": "library", "ac-d": "station"}
SSIDS = ("CityWiFi", "CityWiFi-5G")
KINDS = ("sms", "returning", "silent")
SMS_FIGURE = {"sent": "sms_sent", "delivered": "sms_delivered", "failed": "sms_failed",
              "undelivered": "sms_failed"}
REASONS = ("bad_password", "blocked", "quota_exhausted")
DAYS = 31


@dataclass
class Sim:
    tz: ZoneInfo
    first: dt.date
    logins: list[dict[str, str]]
    sessions: list[dict[str, Any]]
    events: list[tuple[int, dict[str, str]]]
    sms: list[tuple[int, str, tuple[str, str, str]]]        # (ms, outcome, (venue, AC, SSID))
    refusals: list[tuple[int, str, str, str]]                # (ms, reason, AC, SSID or "")
    ads: dict[tuple[dt.date, str], dict[str, int]]


def simulate(tz: ZoneInfo, first: dt.date, seed: int) -> Sim:
    rnd = random.Random(seed)
    phones = [f"1390000{n:04d}" for n in range(60)]
    logins: list[dict[str, str]] = []
    sessions: list[dict[str, Any]] = []
    events: list[tuple[int, dict[str, str]]] = []
    sms: list[tuple[int, str, tuple[str, str, str]]] = []
    refusals: list[tuple[int, str, str, str]] = []
    ads: dict[tuple[dt.date, str], dict[str, int]] = {}
    for d in range(DAYS):
        day = first + dt.timedelta(days=d)
        lo, hi = day_bounds_ms(day, tz)
        for n in range(rnd.randint(15, 30)):
            phone = rnd.choice(phones)
            ac = rnd.choice(list(VENUES))
            # Logins close to both ends of the local day, and some in the middle.
            at = rnd.choice([lo + rnd.randint(0, 3_600_000), hi - rnd.randint(1, 3_600_000),
                             rnd.randint(lo, hi - 1)])
            rec = LoginRecord(phone=phone, mac="aa:bb:cc:00:00:01", ip=f"10.0.0.{n}", ac=ac, ap="",
                              ssid=rnd.choice(SSIDS), venue=VENUES[ac], kind=rnd.choice(KINDS),
                              plan="free", at=at / 1000)
            logins.append(rec.fields())
            events.append((at, rec.fields()))
            start_s = at // 1000 + rnd.randint(0, 3)
            length = rnd.choice([0, rnd.randint(60, 3600), rnd.randint(3600, 20 * 3600)])
            stop_ms = start_s * 1000 + length * 1000 + rnd.randint(0, 999)
            up, down = rnd.randint(0, 10**9), rnd.randint(0, 5 * 10**9)
            sid = f"S{d}-{n}"
            new_format = rnd.random() < 0.7      # older logout records carry no venue/SSID
            extra = {"venue": rec.venue, "ssid": rec.ssid} if new_format else {}
            if rnd.random() < 0.2:               # a kick first, then the AC's final Stop
                events.append((stop_ms - 500, logout_fields(
                    phone=phone, ac=ac, session_id=sid, start=start_s, stop=(stop_ms - 500) / 1000,
                    session_time=max(0, length - 1), bytes_in=up // 2, bytes_out=down // 2,
                    cause="disconnect", **extra)))
            events.append((stop_ms, logout_fields(
                phone=phone, ac=ac, session_id=sid, start=start_s, stop=stop_ms / 1000,
                session_time=length, bytes_in=up, bytes_out=down, cause="stop:user-request",
                **extra)))
            sessions.append({"phone": phone, "ac": ac, "venue": rec.venue, "ssid": rec.ssid,
                             "start": start_s * 1000, "stop": stop_ms, "t": length, "up": up,
                             "down": down})
        # SMS outcomes and refusals, some in the first and last quarter hour of the local day.
        for _ in range(rnd.randint(0, 14)):
            at = rnd.choice([lo + rnd.randint(0, 900_000), hi - rnd.randint(1, 900_000),
                             rnd.randint(lo, hi - 1)])
            ac = rnd.choice(list(VENUES))
            sms.append((at, rnd.choice(["sent", "sent", "delivered", "failed", "undelivered"]),
                        (VENUES[ac], ac, rnd.choice(SSIDS))))
        for _ in range(rnd.randint(0, 9)):
            at = rnd.choice([lo + rnd.randint(0, 900_000), hi - rnd.randint(1, 900_000),
                             rnd.randint(lo, hi - 1)])
            refusals.append((at, rnd.choice(REASONS), rnd.choice(list(VENUES)),
                             rnd.choice([*SSIDS, ""])))
        ads[(day, "plaza")] = {"imp": rnd.randint(0, 90), "view": rnd.randint(0, 50),
                               "click": rnd.randint(0, 9)}
    events.sort(key=lambda e: e[0])
    return Sim(tz, first, logins, sessions, events, sorted(sms), sorted(refusals), ads)


# --- the direct count -------------------------------------------------------------------------------

def scope_names(rec: dict[str, Any]) -> list[tuple[str, str]]:
    return [("t", ""), ("v", rec["venue"]), ("a", rec["ac"]), ("s", rec["ssid"])]


def direct(sim: Sim, day: dt.date) -> dict[tuple[str, str], dict[str, Any]]:
    """What counting the raw records of ``day`` gives, scope by scope (exact fractions for the
    shares of sessions that span several days)."""
    lo, hi = day_bounds_ms(day, sim.tz)
    first_day: dict[str, dt.date] = {}
    for rec in sim.logins:
        d = dt.datetime.fromtimestamp(float(rec["at"]), sim.tz).date()
        first_day[rec["phone"]] = min(d, first_day.get(rec["phone"], d))
    out: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    phones: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rec in sim.logins:
        if lo <= round(float(rec["at"]) * 1000) < hi:
            for scope in scope_names(rec):
                out[scope]["logins"] += 1
                out[scope]["logins_" + rec["kind"]] += 1
                phones[scope].add(rec["phone"])
    for scope, seen in phones.items():
        out[scope]["phones"] = len(seen)
        out[scope]["new_phones"] = sum(1 for p in seen if first_day[p] == day)
    for s in sim.sessions:
        a, b = s["start"], s["stop"]
        if not ((a < hi and b > lo) if b > a else lo <= a < hi):
            continue
        frac = Fraction(min(b, hi) - max(a, lo), b - a) if b > a else Fraction(1)
        for scope in scope_names(s):
            doc = out[scope]
            doc["sessions"] += int(lo <= a < hi)
            doc["overlapping"] += 1
            for name, total in (("seconds", s["t"]), ("bytes_up", s["up"]), ("bytes_down", s["down"])):
                doc[name] += frac * total
            doc.setdefault("spans", []).append((max(a, lo), min(b, hi) if b > a else a + 1))
    for at, outcome, (venue, ac, ssid) in sim.sms:
        if lo <= at < hi:
            for scope in scope_names({"venue": venue, "ac": ac, "ssid": ssid}):
                out[scope][SMS_FIGURE[outcome]] += 1
                out[scope]["sms_fen"] += 4 if outcome == "sent" else 0
    for at, reason, ac, ssid in sim.refusals:
        if lo <= at < hi:
            for scope in scope_names({"venue": VENUES[ac], "ac": ac, "ssid": ssid or UNKNOWN}):
                out[scope]["refused:" + reason] += 1
    for doc in out.values():
        spans = doc.pop("spans", [])
        # Most sessions open at one instant: look at every instant a session opens.
        doc["peak_sessions"] = max((sum(1 for x, y in spans if x <= t < y) for t, _ in spans),
                                   default=0)
    return out


# --- the simulation ----------------------------------------------------------------------------------

def run_month(redis: Any, directory: Path, sim: Sim) -> tuple[ReportJob, ReportStore]:
    exporter = LogExporter(redis, directory, timezone=str(sim.tz.key), page=50)
    # fast: days still in Redis go through the server-side reader, archived days through files.
    store = ReportStore(redis, str(sim.tz.key), lambda lo, hi: exporter.entries("realname", lo, hi),
                        fast=True)
    clock = [0.0]
    job = ReportJob(store, earliest=lambda: sim.first, span_hours=24, delay_minutes=15,
                    retention_days=800, max_days_per_run=5, clock=lambda: clock[0])
    archive = ArchiveJob(redis, directory, keep_in_redis_days=7, retention_days=180,
                         timezone=str(sim.tz.key), clock=lambda: clock[0])
    redis.hset(keys.campaign_defs(), "spring", "{}")
    # The SMS worker's and a RADIUS worker's writers, each on the moment of its event.
    at = [0.0]
    stats = LiveStats(redis, lambda: at[0] / 1000, price_fen=4, tz=str(sim.tz.key))
    metrics = Metrics()
    flusher = RejectFlusher(stats, metrics.snapshot, places=lambda: refusal_places(
        metrics, lambda ac, ssid: VENUES.get(ac)))
    sms, refusals = iter(sim.sms), iter(sim.refusals)
    next_sms, next_refusal = next(sms, None), next(refusals, None)
    start = dt.datetime.combine(sim.first, dt.time(), sim.tz).timestamp()
    events = iter(sim.events)
    pending = next(events, None)
    seq: dict[int, int] = defaultdict(int)
    written: set[dt.date] = set()
    for step in range(1, (DAYS + 3) * 4):
        clock[0] = start + step * 6 * 3600 + 1800
        pipe = redis.pipeline(transaction=False)
        while pending is not None and pending[0] < clock[0] * 1000:
            ms, fields = pending
            pipe.xadd(keys.real_name_log(), fields, id=f"{ms}-{seq[ms]}")
            seq[ms] += 1
            pending = next(events, None)
        while next_sms is not None and next_sms[0] < clock[0] * 1000:
            at[0], outcome, place = next_sms
            stats.record_codes(outcome, 1, place)
            next_sms = next(sms, None)
        while next_refusal is not None and next_refusal[0] < clock[0] * 1000:
            at[0], reason, ac, ssid = next_refusal
            metrics.refused(reason, ac, f"AA-BB-CC-00-00-01:{ssid}" if ssid else "AA-BB-CC-00-00-01")
            flusher.tick(force=True)
            next_refusal = next(refusals, None)
        for day in {day for day, _ in sim.ads}:
            _lo, hi = day_bounds_ms(day, sim.tz)
            if day not in written and hi <= clock[0] * 1000:
                written.add(day)
                ad = sim.ads[(day, "plaza")]
                pipe.hset(keys.campaign_stats("spring", day.strftime("%Y%m%d")),
                          mapping={f"plaza|{k}": v for k, v in ad.items()})
        pipe.execute()
        if step % 4 == 1:
            archive.run()
        while job.run().more:
            pass
    return job, store


@pytest.mark.parametrize(("zone", "first"), [("America/New_York", dt.date(2027, 2, 27)),
                                             ("Asia/Shanghai", dt.date(2027, 1, 1))])
def test_a_simulated_month_reconciles_with_the_raw_records(
        redis_client: Any, tmp_path: Path, zone: str, first: dt.date) -> None:
    tz = ZoneInfo(zone)
    sim = simulate(tz, first, seed=20)
    job, store = run_month(redis_client, tmp_path, sim)
    if zone == "America/New_York":        # the month holds the 23-hour day of the DST change
        lo, hi = day_bounds_ms(dt.date(2027, 3, 14), tz)
        assert hi - lo == 23 * 3_600_000
    assert (tmp_path / "realname").is_dir()          # early days were read back from files
    assert redis_client.xrange(keys.real_name_log(), count=1)[0][0] > b"%d" % day_bounds_ms(first, tz)[1]
    done = store.done()
    month = [(first + dt.timedelta(days=d)).isoformat() for d in range(DAYS)]
    assert sorted(done)[:DAYS] == month and all(done[d][1] for d in month)   # every day final
    spanning = sum(1 for s in sim.sessions
                   if dt.datetime.fromtimestamp(s["start"] / 1000, tz).date()
                   != dt.datetime.fromtimestamp(s["stop"] / 1000, tz).date())
    assert spanning > 50                  # plenty of sessions cross the local midnight
    totals: dict[str, int] = defaultdict(int)
    for d in range(DAYS):
        day = first + dt.timedelta(days=d)
        stored = store.day_docs(day)
        expected = direct(sim, day)
        assert set(stored) == set(expected), day
        for scope, want in expected.items():
            got = stored[scope]
            for name in ("logins", "logins_sms", "logins_returning", "logins_silent", "phones",
                         "new_phones", "sessions", "peak_sessions", "sms_sent", "sms_delivered",
                         "sms_failed", "sms_fen", *(f"refused:{r}" for r in REASONS)):
                assert got.get(name, 0) == want.get(name, 0), (day, scope, name)
            counted = {k for k in got if k.startswith(("sms_", "refused:"))}
            assert counted == {k for k in want if k.startswith(("sms_", "refused:")) and want[k]}
            for name in ("seconds", "bytes_up", "bytes_down"):
                # Integer shares of each session: within one unit per session of the exact part.
                assert abs(got.get(name, 0) - want.get(name, 0)) < max(1, want["overlapping"]), (
                    day, scope, name)
        ad = sim.ads[(day, "plaza")]
        assert {k: stored[("v", "plaza")].get(f"ad:spring:{k}", 0) for k in ad} == ad
    # Over the month (and the day after it, where the last sessions end) the day shares add up
    # exactly to the sessions' own totals.
    for iso in done:
        t = store.day_docs(dt.date.fromisoformat(iso), ("t",)).get(("t", ""), {})
        for name in ("seconds", "bytes_up", "bytes_down", "sessions"):
            totals[name] += t.get(name, 0)
    assert totals == {"seconds": sum(s["t"] for s in sim.sessions),
                      "bytes_up": sum(s["up"] for s in sim.sessions),
                      "bytes_down": sum(s["down"] for s in sim.sessions),
                      "sessions": len(sim.sessions)}
    # SMS and refusals were split by venue, AC and SSID, and add up to the events.
    assert sum(store.day_docs(first + dt.timedelta(days=d), ("t",)).get(("t", ""), {}).get(
        "refused:blocked", 0) for d in range(DAYS)) == sum(
        1 for at, reason, _, _ in sim.refusals if reason == "blocked" and at < day_bounds_ms(
            first + dt.timedelta(days=DAYS), tz)[0])
    # Doing a day again gives the same figures, also once its counters are gone.
    day = first + dt.timedelta(days=3)
    before = store.day_docs(day)
    assert any(k.startswith("refused:") for doc in before.values() for k in doc) or not any(
        day_bounds_ms(day, tz)[0] <= x[0] < day_bounds_ms(day, tz)[1] for x in sim.refusals)
    job.roll_day(day, job.clock(), True)
    assert store.day_docs(day) == before
    lo, hi = day_bounds_ms(day, tz)
    redis_client.delete(*(rk.report_counts(q) for q in range(lo // 900_000, hi // 900_000)))
    job.roll_day(day, job.clock(), True)
    assert store.day_docs(day) == before


def test_attribution_split_and_peak_of_one_day() -> None:
    day = dt.date(2027, 1, 2)
    lo, hi = 1_000_000, 1_000_000 + 86_400_000
    logins = [Login("p1", "ac1", "v1", "S1", "sms", lo - 10_000),       # yesterday's login
              Login("p2", "ac1", "v1", "S1", "returning", lo + 5_000)]
    sessions = [Session("ac1", "x", "p1", "", "", lo - 9_000, lo + 9_000, 18, 180, 18),
                Session("ac1", "y", "p2", "v1", "S1", lo + 6_000, lo + 6_000, 0, 7, 0),
                Session("ac2", "z", "p3", "", "", lo + 9_000, hi + 1000, 100, 0, 0)]
    docs = rollup_day(day, lo, hi, logins, sessions, {"p2": 20270102})
    t = docs[("t", "")]
    assert t["logins"] == 1 and t["new_phones"] == 1 and t["sessions"] == 2
    assert t["bytes_up"] == 90 + 7 and t["seconds"] == 9 + share(100, lo + 9_000, hi + 1000, lo, hi)
    assert t["peak_sessions"] == 2      # x and y overlap; x ends exactly when z starts
    assert docs[("v", "v1")]["bytes_up"] == 97 and docs[("v", UNKNOWN)]["sessions"] == 1
    assert share(10, 0, 3, 0, 1) + share(10, 0, 3, 1, 2) + share(10, 0, 3, 2, 3) == 10


def test_first_seen_keeps_the_earliest_day_in_chunks(redis_client: Any) -> None:
    store = ReportStore(redis_client, "Asia/Shanghai", lambda lo, hi: iter(()))
    store.first_seen_chunk = 3            # many HMGET/HSET rounds per bucket
    phones = [f"1390000{n:04d}" for n in range(40)]
    assert set(store.update_first_seen(phones[:20], dt.date(2027, 1, 10)).values()) == {20270110}
    later = store.update_first_seen(phones, dt.date(2027, 1, 12))
    assert [later[p] for p in phones] == [20270110] * 20 + [20270112] * 20
    earlier = store.update_first_seen(phones[10:30], dt.date(2027, 1, 11))   # a back-filled day
    assert [earlier[p] for p in phones[10:30]] == [20270110] * 10 + [20270111] * 10
    again = store.update_first_seen(phones, dt.date(2027, 1, 12))
    assert [again[p] for p in phones] == [20270110] * 20 + [20270111] * 10 + [20270112] * 10


def test_two_nodes_do_not_roll_up_at_once(redis_client: Any) -> None:
    store = ReportStore(redis_client, "Asia/Shanghai", lambda lo, hi: iter(()))
    job = ReportJob(store, earliest=lambda: None)
    redis_client.set(rk.report_lock(), "other-host:1:abcd", px=60_000)
    with pytest.raises(ReportBusy):
        job.run()
    redis_client.delete(rk.report_lock())
    assert job.run().days == ()


def test_month_summaries_agree_with_the_days(redis_client: Any) -> None:
    store = ReportStore(redis_client, "Asia/Shanghai", lambda lo, hi: iter(()))
    rnd = random.Random(7)
    days = [dt.date(2027, 1, 20) + dt.timedelta(days=i) for i in range(45)]     # Jan 20 – Mar 5
    for day in days:
        store.write_day(day, {("t", ""): {"logins": 3},
                              **{("v", f"v{i}"): {"logins": rnd.randint(0, 9) + 1,
                                                  "peak_sessions": rnd.randint(1, 50)}
                                 for i in range(4)}}, 0.0, True)
    for first, last in ((days[0], days[-1]), (dt.date(2027, 2, 1), dt.date(2027, 2, 28)),
                        (dt.date(2027, 2, 2), dt.date(2027, 3, 1))):
        report = build_report(store, ReportQuery(first, last))
        chosen = [d for d in days if first <= d <= last]
        want: dict[str, dict[str, int]] = {}
        for day in chosen:
            for (_, name), doc in store.day_docs(day, ("v",)).items():
                w = want.setdefault(name, {"logins": 0, "peak_sessions": 0})
                w["logins"] += doc["logins"]
                w["peak_sessions"] = max(w["peak_sessions"], doc["peak_sessions"])
        got = {n: {k: d[k] for k in ("logins", "peak_sessions")}
               for n, d in report["breakdown"]["venue"].items()}
        assert got == want, (first, last)
        assert report["totals"]["logins"] == 3 * len(chosen)
    assert store.load_month(dt.date(2027, 2, 1), "v")          # February is summarised
    # A run that dies after writing a day, before summing its month, leaves the month marked.
    store.write_day(dt.date(2027, 3, 6), {("v", "v9"): {"logins": 5}}, 0.0, True, refresh=False)
    assert "v9" not in store.load_month(dt.date(2027, 3, 1), "v")
    assert store.refresh_stale_months() == 1
    assert store.load_month(dt.date(2027, 3, 1), "v")["v9"] == {"logins": 5}
    assert store.refresh_stale_months() == 0
    store.forget(d.isoformat() for d in days if d.month == 2)
    assert store.load_month(dt.date(2027, 2, 1), "v") == {}    # …and gone with its days
    february = ReportQuery(dt.date(2027, 2, 1), dt.date(2027, 2, 28))
    assert build_report(store, february)["totals"]["logins"] == 0


def test_server_side_reader_gives_what_the_generic_reader_gives(redis_client: Any) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    sim = simulate(tz, dt.date(2027, 5, 1), seed=3)
    pipe = redis_client.pipeline(transaction=False)
    for j, (ms, fields) in enumerate(sim.events):
        fields = {**fields, "ap": "a\\tb"}
        if j % 5 == 0:       # another field order: the script's slow path (names looked up)
            fields = dict(reversed(fields.items()))
        pipe.xadd(keys.real_name_log(), fields, id=f"{ms}-{j}")
    pipe.execute()
    redis_client.xadd(keys.real_name_log(), {"kind": "logout", "ac": "x"}, id=f"{ms + 1}-0")  # malformed
    exporter = LogExporter(redis_client, Path("/nonexistent"), timezone="Asia/Shanghai")
    source = lambda lo, hi: exporter.entries("realname", lo, hi)  # noqa: E731
    fast = ReportStore(redis_client, "Asia/Shanghai", source, fast=True)
    slow = ReportStore(redis_client, "Asia/Shanghai", source)
    skipped = 0
    for d in (0, 5, 30):
        day = dt.date(2027, 5, 1) + dt.timedelta(days=d)
        lo, hi = day_bounds_ms(day, tz)
        window = (lo - 60_000, hi)
        a, b = fast.records(lo - 60_000, hi + 86_400_000, window), slow.records(
            lo - 60_000, hi + 86_400_000, window)
        assert sorted(a[0], key=repr) == sorted(b[0], key=repr) and a[0]
        # The server-side reader leaves out the sessions that start after the day (no part in
        # it; the roll-up skips them anyway) and gives every other session as the records do.
        assert all(x.start_ms < hi for x in a[1])
        assert sorted(a[1], key=repr) == sorted((x for x in b[1] if x.start_ms < hi), key=repr)
        assert a[1]
        skipped += sum(1 for x in b[1] if x.start_ms >= hi)
        assert rollup_day(day, lo, hi, *a, {}) == rollup_day(day, lo, hi, *b, {})
        # Small pages (many script calls, both halves of the range) read the same lines.
        rows = list(read_rows(redis_client, lo - 60_000, hi + 86_400_000, *window))
        assert list(read_rows(redis_client, lo - 60_000, hi + 86_400_000, *window, page=7)) == rows
        assert len(rows) == len(a[0]) + sum(1 for r in rows if r.startswith("logout\t"))
    assert skipped > 0
