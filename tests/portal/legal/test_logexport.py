"""Streamed export of the legal logs: flat memory, exactly-once while the archive job runs,
CSV for Excel (BOM, CRLF, formula guard) and JSON Lines, filters, bad requests."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import tracemalloc
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from portal.legal.log_archive import ArchiveJob
from portal.legal.logexport import ExportFilters, ExportRequestError, LogExporter, day_range
from portal.legal.reallog import logout_fields
from portal.state import keys

TZ = ZoneInfo("Asia/Shanghai")
BASE_MS = int(dt.datetime(2026, 5, 1, tzinfo=TZ).timestamp() * 1000)
DAY_MS = 86_400_000


def login(n: int, ms: int, **over: str) -> dict[str, str]:
    rec = {"phone": f"189{n % 100_000_000:08d}", "mac": f"aa:bb:cc:{n % 256:02x}:00:01",
           "ip": f"10.1.{n % 250}.{n % 200}", "ac": f"ac{n % 3}", "ap": "00:11:22:33:44:55",
           "ssid": "城市WiFi", "venue": f"v{n % 3}", "kind": "sms", "plan": "free",
           "at": f"{ms / 1000:.3f}"}
    rec.update(over)
    return rec


def write_day_file(directory: Path, day: dt.date, entries: list[tuple[str, dict[str, str]]]) -> None:
    folder = directory / "realname"
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / f"{day}.jsonl.gz", "wb", compresslevel=1) as fh:
        for entry_id, rec in entries:
            fh.write((json.dumps({"id": entry_id, "f": rec}, ensure_ascii=False) + "\n").encode())


@pytest.mark.slow   # ~20 s: tracemalloc slows every allocation of 200k rows
def test_export_of_200k_records_streams_in_flat_memory(redis_client: Any, tmp_path: Path) -> None:
    per_day, file_days, redis_days = 10_000, 15, 5
    n = 0
    for d in range(file_days):            # 150k archived records
        entries = []
        for i in range(per_day):
            ms = BASE_MS + d * DAY_MS + i * 8000
            entries.append((f"{ms}-0", login(n, ms)))
            n += 1
        write_day_file(tmp_path, (dt.datetime.fromtimestamp(BASE_MS / 1000, TZ)
                                  + dt.timedelta(days=d)).date(), entries)
    redis_client.hset(keys.archive_checkpoints(), "realname", entries[-1][0])
    pipe = redis_client.pipeline(transaction=False)
    for d in range(file_days, file_days + redis_days):     # 50k recent records in Redis
        for i in range(per_day):
            ms = BASE_MS + d * DAY_MS + i * 8000
            pipe.xadd(keys.real_name_log(), login(n, ms), id=f"{ms}-0")
            n += 1
        pipe.execute()
    exporter = LogExporter(redis_client, tmp_path)
    start, end = BASE_MS / 1000, BASE_MS / 1000 + 30 * 86400
    tracemalloc.start()
    try:
        rows = size = 0
        for chunk in exporter.export("realname", start, end, None, "csv"):
            rows += chunk.count("\r\n")
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 200_000 + 1                  # + header
    assert size > 25_000_000                    # the output is far larger than…
    assert peak < 6_000_000, peak               # …what the export ever holds


def test_export_stays_exact_while_the_archive_job_runs(redis_client: Any, tmp_path: Path) -> None:
    expected = []
    pipe = redis_client.pipeline(transaction=False)
    for d in range(12):
        for i in range(40):
            ms = BASE_MS + d * DAY_MS + i * 60_000
            pipe.xadd(keys.real_name_log(), login(i, ms), id=f"{ms}-0")
            expected.append(f"{ms}-0")
    pipe.execute()
    exporter = LogExporter(redis_client, tmp_path, page=25, chunk_rows=1)
    out = exporter.export("realname", BASE_MS / 1000, BASE_MS / 1000 + 20 * 86400, None, "jsonl")
    got = [json.loads(next(out))["id"] for _ in range(30)]   # mid-way through day 0, in Redis
    # The job archives and trims days 0..9 behind the export's back.
    report = ArchiveJob(redis_client, tmp_path, keep_in_redis_days=2).run(
        BASE_MS / 1000 + 12 * 86400)
    assert report.entries == 400 and redis_client.xlen(keys.real_name_log()) == 80
    got += [json.loads(chunk)["id"] for chunk in out]
    assert got == expected


def test_csv_is_what_excel_in_china_opens(redis_client: Any, tmp_path: Path) -> None:
    ms = BASE_MS + 3_600_000
    redis_client.xadd(keys.real_name_log(), login(1, ms, ssid="=HYPERLINK(\"x\")"), id=f"{ms}-0")
    redis_client.xadd(keys.real_name_log(), logout_fields(
        phone="18900000001", ac="ac1", session_id="S9", start=ms / 1000, stop=ms / 1000 + 90,
        session_time=90, bytes_in=5, bytes_out=7, cause="stop:user-request",
        mac="aa:bb:cc:01:00:01", ip="10.1.1.1"), id=f"{ms + 90_000}-0")
    start, end = day_range(dt.date(2026, 5, 1), dt.date(2026, 5, 1), "Asia/Shanghai")
    raw = "".join(LogExporter(redis_client, tmp_path).export("realname", start, end)).encode()
    assert raw.startswith(b"\xef\xbb\xbf")                          # UTF-8 BOM
    text = raw.decode("utf-8-sig")
    assert text.count("\r\n") == 3 and "\n" not in text.replace("\r\n", "")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["ssid"] == "'=HYPERLINK(\"x\")"                  # no formula runs in Excel
    assert rows[0]["time"] == "2026-05-01T01:00:00+08:00"
    assert rows[1]["kind"] == "logout" and rows[1]["stop"] == "2026-05-01T01:01:30+08:00"
    assert (rows[1]["session_id"], rows[1]["bytes_in"], rows[1]["cause"]) == (
        "S9", "5", "stop:user-request")
    jl = [json.loads(x) for x in "".join(LogExporter(redis_client, tmp_path).export(
        "realname", start, end, fmt="jsonl")).splitlines()]
    assert jl[1]["bytes_out"] == 7 and jl[0]["ssid"] == "=HYPERLINK(\"x\")"   # JSONL is exact
    # Range is [start, end): the day after is empty; the header still comes.
    empty = "".join(LogExporter(redis_client, tmp_path).export("realname", end, end + 86400))
    assert empty.splitlines() == ["\ufeff" + ",".join(csv.DictReader(io.StringIO(text)).fieldnames
                                                       or [])]


def test_filters(redis_client: Any, tmp_path: Path) -> None:
    for i in range(9):
        ms = BASE_MS + i * 1000
        redis_client.xadd(keys.real_name_log(), login(i, ms), id=f"{ms}-0")
    ms = BASE_MS + 20_000
    redis_client.xadd(keys.real_name_log(), logout_fields(
        phone="18900000004", ac="ac1", session_id="S", start=0, stop=ms / 1000, session_time=1,
        bytes_in=1, bytes_out=1, cause="reaped"), id=f"{ms}-0")
    redis_client.xadd(keys.acct_log(), {"k": "acct", "st": "2", "ac": "ac2", "ph": "18900000002",
                                        "mac": "AA-BB-CC-02-00-01", "at": "1"}, id=f"{ms}-0")
    redis_client.xadd(keys.audit_log(), {"at": "1", "actor": "user:a", "area": "noc",
                                         "action": "session.kick"}, id=f"{ms}-0")
    exporter = LogExporter(redis_client, tmp_path, venue_acs=lambda v: {"v1": ("ac1",)}.get(v, ()))

    def phones(stream: str = "realname", **f: str) -> list[str]:
        out = exporter.export(stream, BASE_MS / 1000, BASE_MS / 1000 + 60, ExportFilters(**f),
                              "jsonl")
        return [json.loads(line).get("phone") or json.loads(line)["action"]
                for line in "".join(out).splitlines()]

    assert phones(phone="18900000004") == ["18900000004", "18900000004"]
    assert phones(mac="AA-BB-CC-03-00-01") == ["18900000003"]          # any MAC notation
    assert phones(kind="logout") == ["18900000004"]
    assert phones(ac="ac2") == ["18900000002", "18900000005", "18900000008"]
    # venue: logins of the venue, plus logouts on the venue's ACs
    assert phones(venue="v1") == ["18900000001", "18900000004", "18900000007", "18900000004"]
    assert phones("accounting", mac="aabb.cc02.0001", kind="stop") == ["18900000002"]
    assert phones("audit", kind="session.kick") == ["session.kick"]
    assert phones("audit", kind="noc") == ["session.kick"]


@pytest.mark.parametrize(("stream", "fmt", "filters", "code"), [
    ("nope", "csv", ExportFilters(), "bad_stream"),
    ("realname", "xlsx", ExportFilters(), "bad_format"),
    ("audit", "csv", ExportFilters(phone="18900000001"), "bad_filter"),
    ("realname", "csv", ExportFilters(mac="not-a-mac"), "bad_mac"),
])
def test_bad_requests_fail_before_streaming(redis_client: Any, tmp_path: Path, stream: str,
                                            fmt: str, filters: ExportFilters, code: str) -> None:
    with pytest.raises(ExportRequestError) as err:
        LogExporter(redis_client, tmp_path).export(stream, 0, 10, filters, fmt)
    assert err.value.code == code and err.value.message_zh
    with pytest.raises(ExportRequestError):
        LogExporter(redis_client, tmp_path).export("realname", 10, 10)
    with pytest.raises(ExportRequestError):
        day_range(dt.date(2026, 5, 2), dt.date(2026, 5, 1), "Asia/Shanghai")
