"""The legal-log archive over a simulated 200 days (controllable clock), crashes at every step of
a day (injected hook and a real SIGKILLed ``citywifi archive run``), logout records, settings."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from portal.aaa.acs import AcRecord
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.legal.log_archive import (
    STREAMS,
    ArchiveBusy,
    ArchiveJob,
    day_files,
    next_run_at,
    read_day_file,
)
from portal.legal.logexport import LogExporter
from portal.runtime.settings import QuotaSettings, SettingsError, load_settings
from portal.state import keys
from radius.accounting import AccountingProcessor, AcctRecord, AcctStatus
from radius.reaper import reap

TZ = ZoneInfo("Asia/Shanghai")
DAY0 = dt.date(2026, 1, 1)
DAY_MS = 86_400_000
BASE_MS = int(dt.datetime.combine(DAY0, dt.time(), TZ).timestamp() * 1000)
HOURS = (1, 9, 17, 23)   # local hours of the records of a day


def day_start(day: int) -> float:
    return BASE_MS / 1000 + day * 86400


def fields(stream: str, day: int, i: int, at: float) -> dict[str, str]:
    phone = f"1890000{day % 100:02d}{i:02d}"
    if stream == "realname":
        return {"phone": phone, "mac": f"aa:bb:cc:00:{day % 100:02d}:{i:02d}", "ip": f"10.0.{day % 250}.{i}",
                "ac": f"ac{i % 2}", "ap": "", "ssid": "CityWiFi", "venue": f"v{i % 2}",
                "kind": "sms", "plan": "free", "at": f"{at:.3f}"}
    if stream == "accounting":
        return {"k": "acct", "ac": f"ac{i % 2}", "at": f"{at:.3f}", "ph": phone, "st": "3",
                "sid": f"S{day}-{i}", "t": "300", "in": str(1000 * i), "out": str(2000 * i)}
    return {"at": f"{at:.3f}", "actor": "user:noc", "area": "noc", "action": "plan.update",
            "target": f"plan{day}", "ip": "127.0.0.1", "before": "{}", "after": '{"rate": 1}'}


def append_day(redis: Any, day: int, per_hour: int = 1) -> dict[str, list[str]]:
    """Records of one local day in every stream, with explicit (simulated-time) ids."""
    ids: dict[str, list[str]] = {s: [] for s in STREAMS}
    pipe = redis.pipeline(transaction=False)
    for n, hour in enumerate(HOURS):
        for j in range(per_hour):
            ms = BASE_MS + day * DAY_MS + hour * 3_600_000 + j
            for stream, key in STREAMS.items():
                entry_id = f"{ms}-0"
                pipe.xadd(key(), fields(stream, day, n * per_hour + j, ms / 1000), id=entry_id)
                ids[stream].append(entry_id)
    pipe.execute()
    return ids


def all_file_ids(directory: Path, stream: str) -> list[str]:
    return [i for _, path in day_files(directory, stream) for i, _ in read_day_file(path)]


def redis_ids(redis: Any, stream: str) -> list[str]:
    return [i.decode() for i, _ in redis.xrange(STREAMS[stream]())]


def exported_ids(redis: Any, directory: Path, stream: str, start: float, end: float) -> list[str]:
    out = LogExporter(redis, directory, page=7).export(stream, start, end, None, "jsonl")
    return [json.loads(line)["id"] for line in "".join(out).splitlines()]


def job(redis: Any, directory: Path, **kw: Any) -> ArchiveJob:
    return ArchiveJob(redis, directory, keep_in_redis_days=7, retention_days=180, **kw)


def test_two_hundred_days_retention_trim_and_export(redis_client: Any, tmp_path: Path) -> None:
    expected: dict[str, list[str]] = {s: [] for s in STREAMS}
    clock_now = [0.0]
    archive = job(redis_client, tmp_path, clock=lambda: clock_now[0])
    for day in range(200):
        for stream, ids in append_day(redis_client, day).items():
            expected[stream] += ids
        clock_now[0] = day_start(day + 1) + 3.5 * 3600    # the next day at 03:30
        report = archive.run()
        today = day + 1
        if today > 7:     # day (today - 8) went to its file this run
            assert [d.day for d in report.days if d.stream == "realname"] == [
                DAY0 + dt.timedelta(days=today - 8)]
        for stream in STREAMS:   # Redis keeps exactly the last 7 local days (+ today: empty)
            oldest = redis_ids(redis_client, stream)[0]
            assert int(oldest.split("-")[0]) >= BASE_MS + (today - 7) * DAY_MS
            assert len(redis_ids(redis_client, stream)) == len(HOURS) * min(today, 7)
    today = 200
    for stream in STREAMS:
        files = day_files(tmp_path, stream)
        # Retention: files of days older than 180 days are gone, every younger day is there.
        assert files[0][0] == DAY0 + dt.timedelta(days=today - 180)
        assert [d for d, _ in files] == [DAY0 + dt.timedelta(days=d) for d in range(20, 193)]
        # Files + Redis hold exactly the retained records, once each, in order.
        kept = [i for i in expected[stream] if int(i.split("-")[0]) >= BASE_MS + 20 * DAY_MS]
        assert all_file_ids(tmp_path, stream) + redis_ids(redis_client, stream) == kept
        # Export across the archive/Redis boundary (and across deleted days) returns exactly those.
        assert exported_ids(redis_client, tmp_path, stream, day_start(0), day_start(200)) == kept
    # A window straddling the boundary: days 190..195 (files 190–192, Redis 193–195).
    window = [i for i in expected["realname"]
              if BASE_MS + 190 * DAY_MS <= int(i.split("-")[0]) < BASE_MS + 196 * DAY_MS]
    assert len(window) == 6 * len(HOURS)
    assert exported_ids(redis_client, tmp_path, "realname", day_start(190), day_start(196)) == window
    # Files are gzip'd JSON Lines with the original fields.
    first = next(read_day_file(day_files(tmp_path, "realname")[0][1]))
    assert first[1]["kind"] == "sms" and first[1]["phone"].startswith("189")


def snapshot(redis: Any, directory: Path) -> dict[str, list[str]]:
    """Every id once per stream as an export of all time sees it."""
    return {s: exported_ids(redis, directory, s, 0, day_start(400)) for s in STREAMS}


class Crash(Exception):
    pass


def crash_at(point: str, stream: str, nth: int) -> Any:
    seen = [0]

    def hook(p: str, s: str, _day: dt.date) -> None:
        if p == point and s == stream:
            seen[0] += 1
            if seen[0] == nth:
                raise Crash(point)
    return hook


@pytest.mark.parametrize("point", ["writing", "file_written", "checkpointed"])
@pytest.mark.parametrize("stream", ["realname", "audit"])
def test_crash_at_each_step_then_rerun(redis_client: Any, tmp_path: Path, point: str,
                                       stream: str) -> None:
    expected: dict[str, list[str]] = {s: [] for s in STREAMS}
    for day in range(20):
        for s, ids in append_day(redis_client, day, per_hour=3).items():
            expected[s] += ids
    now = day_start(20) + 3.5 * 3600      # days 0..12 are due for the archive
    crashing = job(redis_client, tmp_path, hook=crash_at(point, stream, 4), page=5)
    with pytest.raises(Crash):
        crashing.run(now)
    # While crashed (files ahead of the checkpoint, or Redis not trimmed): exports still see
    # every record exactly once, in order.
    assert snapshot(redis_client, tmp_path) == expected
    path = tmp_path / stream / f"{DAY0 + dt.timedelta(days=3)}.jsonl.gz"
    if point == "writing":
        assert list((tmp_path / stream).glob(".*.tmp-*"))          # a half-written temp file
    before = hashlib.sha256(path.read_bytes()).hexdigest() if point == "file_written" else None
    report = job(redis_client, tmp_path).run(now)
    assert report.days
    assert not list((tmp_path / stream).glob(".*.tmp-*"))
    if before is not None:   # re-archiving the day rewrote the very same bytes
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    for s in STREAMS:
        files = all_file_ids(tmp_path, s)
        assert len(files) == len(set(files)) == 13 * 12
        assert files + redis_ids(redis_client, s) == expected[s]
    assert snapshot(redis_client, tmp_path) == expected
    # A third run finds nothing to do.
    assert job(redis_client, tmp_path).run(now).entries == 0


def test_rerun_merges_with_an_existing_file_by_stream_id(redis_client: Any, tmp_path: Path) -> None:
    """Checkpoint lost (e.g. Redis restored from an older snapshot) while the file exists and
    Redis was partly trimmed: the day is rebuilt as the union, deduplicated by id."""
    ids = append_day(redis_client, 0, per_hour=2)["realname"]
    job(redis_client, tmp_path).run(day_start(8) + 100)
    assert redis_client.xlen(keys.real_name_log()) == 0
    # Redis comes back with the day's first half (restored) and no checkpoint.
    redis_client.delete(keys.real_name_log())
    for entry_id, rec in list(read_day_file(tmp_path / "realname" / "2026-01-01.jsonl.gz"))[:4]:
        redis_client.xadd(keys.real_name_log(), rec, id=entry_id)
    redis_client.delete(keys.archive_checkpoints())
    job(redis_client, tmp_path).run(day_start(8) + 200)
    assert all_file_ids(tmp_path, "realname") == ids
    assert redis_client.xlen(keys.real_name_log()) == 0


def test_sigkilled_cli_run_then_rerun_loses_nothing(redis_client: Any, redis_url: str,
                                                     tmp_path: Path) -> None:
    expected: list[str] = []
    pipe = redis_client.pipeline(transaction=False)
    for day in range(40):
        for n in range(1500):
            ms = BASE_MS + day * DAY_MS + n * 50_000
            pipe.xadd(keys.real_name_log(), fields("realname", day, n % 100, ms / 1000),
                      id=f"{ms}-0")
            expected.append(f"{ms}-0")
        pipe.execute()
    repo = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    env.pop("CITYWIFI_CONFIG", None)
    now_iso = dt.datetime.fromtimestamp(day_start(40) + 3600, TZ).isoformat()
    proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "archive", "run", "--now", now_iso],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while redis_client.hget(keys.archive_checkpoints(), "realname") is None:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL          # killed mid-run, holding the lock
    assert redis_client.get(keys.archive_lock()) is not None
    directory = tmp_path / "archive"
    assert exported_ids(redis_client, directory, "realname", 0, day_start(60)) == expected
    # The rerun takes over the dead run's lock and finishes the job (sealing with the key the
    # CLI made, as `citywifi archive run` would: the export below checks the seals).
    key = bytes.fromhex((tmp_path / "archive-hmac.key").read_text())
    job(redis_client, directory, key=key).run(day_start(40) + 3600)
    files = all_file_ids(directory, "realname")
    assert len(files) == len(set(files)) == 33 * 1500
    assert files + redis_ids(redis_client, "realname") == expected
    # And the CLI export streams the same records (CSV: BOM, header, one line per record).
    out = subprocess.run(
        [sys.executable, "-m", "portal.cli", "archive", "export", "--from", "2026-01-01",
         "--to", "2026-02-28", "--format", "csv"], env=env, cwd=tmp_path, capture_output=True,
        timeout=60, check=True).stdout
    assert out.startswith("\ufeffid,time,kind,phone".encode())
    lines = out.decode("utf-8-sig").splitlines()[1:]
    assert [line.split(",", 1)[0] for line in lines] == expected


def test_lock_refuses_a_live_run_and_takes_over_a_dead_one(redis_client: Any,
                                                          tmp_path: Path) -> None:
    redis_client.set(keys.archive_lock(), f"{os.uname().nodename}:{os.getpid()}:x")
    with pytest.raises(ArchiveBusy):
        job(redis_client, tmp_path).run(day_start(10))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    redis_client.set(keys.archive_lock(), f"{os.uname().nodename}:{dead.pid}:x")
    job(redis_client, tmp_path).run(day_start(10))
    assert redis_client.get(keys.archive_lock()) is None   # released after the run
    assert redis_client.hget(keys.archive_last_run(), "error") == b""


def test_settings_refuse_short_retention() -> None:
    with pytest.raises(SettingsError, match=r"archive: retention_days: .*at least 180"):
        load_settings(environ={"CITYWIFI_ARCHIVE_RETENTION_DAYS": "90"})
    with pytest.raises(SettingsError, match="run_at"):
        load_settings(environ={"CITYWIFI_ARCHIVE_RUN_AT": "25:00"})
    s = load_settings(environ={"CITYWIFI_ARCHIVE_RETENTION_DAYS": "365",
                               "CITYWIFI_ARCHIVE_KEEP_IN_REDIS_DAYS": "3"})
    assert (s.archive.retention_days, s.archive.keep_in_redis_days) == (365, 3)


def test_next_run_at_is_the_next_local_run_time() -> None:
    at_0100 = dt.datetime(2026, 3, 1, 1, 0, tzinfo=TZ).timestamp()
    assert next_run_at(at_0100, "03:30", "Asia/Shanghai") == dt.datetime(
        2026, 3, 1, 3, 30, tzinfo=TZ).timestamp()
    at_0330 = dt.datetime(2026, 3, 1, 3, 30, tzinfo=TZ).timestamp()
    assert next_run_at(at_0330, "03:30", "Asia/Shanghai") == at_0330 + 86400


# --- logout records ---------------------------------------------------------------------------

AC = AcRecord(name="ac1", addresses=("127.0.0.1",), secret="s")


def realname(redis: Any) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in raw.items()}
            for _, raw in redis.xrange(keys.real_name_log())]


@pytest.fixture
def acct(redis_client: Any) -> Iterator[AccountingProcessor]:
    # These ACs send no Class: trust their User-Name (the test is about logout records).
    proc = AccountingProcessor(redis_client, grace=60,
                               settings=QuotaSettings(plan_cache_ttl=0, acct_trust_user_name=True))
    yield proc
    proc.close()


def test_accounting_stop_writes_a_logout_record(redis_client: Any,
                                                acct: AccountingProcessor) -> None:
    t0 = 1_790_000_000.0
    base: dict[str, Any] = dict(session_id="S1", user_name="18900000001",
                                calling_station_id="AA-BB-CC-DD-EE-01",
                                framed_ip="10.0.0.5")
    acct.process(AC, AcctRecord(status=int(AcctStatus.START), **base), t0)
    acct.process(AC, AcctRecord(status=int(AcctStatus.STOP), session_time=600, input_octets=111,
                                output_octets=222, terminate_cause=1, delay_time=2, **base),
                 t0 + 602)
    (rec,) = realname(redis_client)
    assert rec["kind"] == "logout" and rec["cause"] == "stop:user-request"
    assert (rec["phone"], rec["mac"], rec["ip"], rec["ac"], rec["sid"]) == (
        "18900000001", "aa:bb:cc:dd:ee:01", "10.0.0.5", "ac1", "S1")
    assert (float(rec["start"]), float(rec["stop"]), rec["t"], rec["in"], rec["out"]) == (
        t0, t0 + 600, "600", "111", "222")


def test_kick_reaper_and_nas_reboot_write_logout_records(redis_client: Any,
                                                         acct: AccountingProcessor) -> None:
    registry = SessionRegistry(redis_client, grace=60)
    t0 = 1_790_000_000
    for n in (1, 2, 3):
        registry.open(OnlineSession(ac="ac1", session_id=f"S{n}", phone=f"1890000000{n}",
                                    mac=f"aa:bb:cc:dd:ee:0{n}", ip=f"10.0.0.{n}", started=t0,
                                    updated=t0 + 300, interim=300, input_octets=10 * n,
                                    output_octets=20 * n, session_time=300))
    assert registry.close("ac1", "S1", "18900000001") is not None          # DM kick
    assert [s.session_id for s in reap(registry, t0 + 2000)] == ["S2", "S3"]  # all silent
    registry.open(OnlineSession(ac="ac1", session_id="S4", phone="18900000004", started=t0,
                                updated=t0 + 300))
    assert acct.close_ac(AC, t0 + 5000, t0 + 5000, "nas-on") == 1
    recs = realname(redis_client)
    assert [(r["sid"], r["cause"]) for r in recs] == [
        ("S1", "disconnect"), ("S2", "reaped"), ("S3", "reaped"), ("S4", "nas-on")]
    assert all(r["kind"] == "logout" for r in recs)
    assert (recs[1]["in"], recs[1]["out"], float(recs[1]["stop"])) == ("20", "40", t0 + 300)
