"""Legal-log export from the NOC console (/noc/logs) and the API (GET /api/v1/logs/{stream}):
streamed (a generator response, memory flat in the range), filters, formats, 400s before the
first byte, every export audited; the archive job's last run shown."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tracemalloc
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from portal.state import keys
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import csrf, make_app
from tests.portal.web.noc.nockit import signed_in

TZ = ZoneInfo("Asia/Shanghai")
BASE_MS = int(dt.datetime(2026, 5, 1, tzinfo=TZ).timestamp() * 1000)
DAY_MS = 86_400_000


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def post_export(client: FlaskClient, query: str, token: str | None = None) -> Any:
    """Submit the console's export form (a CSRF-protected POST) with the fields of ``query``."""
    from urllib.parse import parse_qsl

    data = dict(parse_qsl(query, keep_blank_values=True))
    data["csrf_token"] = token if token is not None else csrf(client, "/noc/logs")
    return client.post("/noc/logs/export", data=data)


def fill(redis: Any, per_day: int, days: int = 3) -> None:
    """``per_day`` real-name logins on each of ``days`` days from 2026-05-01 (Asia/Shanghai)."""
    pipe = redis.pipeline(transaction=False)
    for d in range(days):
        for i in range(per_day):
            ms = BASE_MS + d * DAY_MS + i * 1000
            pipe.xadd(keys.real_name_log(), {
                "phone": f"1890000{i % 1000:04d}", "mac": f"aa:bb:cc:00:{i % 256:02x}:01", "ip": "10.1.0.9",
                "ac": f"ac{i % 2}", "ap": "", "ssid": "城市WiFi", "venue": "v1", "kind": "sms",
                "plan": "free", "at": f"{ms / 1000:.3f}"}, id=f"{ms}-0")
            if len(pipe) >= 2000:
                pipe.execute()
    pipe.execute()


def test_console_roles_and_archive_status(app: Flask, redis_client: Any) -> None:
    assert app.test_client().get("/noc/logs").status_code == 302
    venue = signed_in(app, redis_client, Role.VENUE, "op1")
    assert venue.get("/noc/logs").status_code == 403
    assert post_export(venue, "stream=realname&from=2026-05-01&to=2026-05-01",
                       csrf(venue, "/account/password")).status_code == 403
    redis_client.hset(keys.archive_last_run(), mapping={
        "at": "1777000000.000", "entries": "4242", "files": "3", "trimmed": "4000", "deleted": "0",
        "error": "<script>x</script>"})
    noc = signed_in(app, redis_client)
    html = noc.get("/noc/logs").get_data(as_text=True)
    assert "4242" in html and "&lt;script&gt;x" in html and "<script>x" not in html


def test_console_export_csv_filtered_and_audited(app: Flask, redis_client: Any) -> None:
    fill(redis_client, 50)
    noc = signed_in(app, redis_client)
    resp = post_export(noc, "stream=realname&from=2026-05-02&to=2026-05-02&format=csv&ac=ac1")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    text = resp.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 25 and {r["ac"] for r in rows} == {"ac1"} and rows[0]["ssid"] == "城市WiFi"
    entry = AuditLog(redis_client).recent(1, area="noc")[0]
    assert (entry.actor, entry.action, entry.target) == ("user:noc1", "log.export", "realname")
    assert entry.after == {"from": "2026-05-02", "to": "2026-05-02", "format": "csv",
                           "filters": {"ac": "ac1"}}


EXPORT_ERRORS = [
    ("stream=realname&from=2026-05-03&to=2026-05-01", "before"),
    ("stream=realname&from=2026-05-01&to=2026-05-01&mac=zz", "not a MAC address"),
    ("stream=audit&from=2026-05-01&to=2026-05-01&phone=189", "does not apply"),
    ("stream=realname&from=2026-05-01&to=2026-05-01&format=xlsx", "unknown format"),
    ("stream=realname&from=yesterday&to=2026-05-01", "not a valid date"),
    ("stream=secret&from=2026-05-01&to=2026-05-01", "Choose a log"),
]


def test_console_bad_requests_are_400_with_message(app: Flask, redis_client: Any) -> None:
    noc = signed_in(app, redis_client)
    noc.set_cookie("cw_lang", "en")
    token = csrf(noc, "/noc/logs")
    for query, en in EXPORT_ERRORS:
        resp = post_export(noc, query, token)
        assert resp.status_code == 400 and en in resp.get_data(as_text=True), en
    assert not [e for e in AuditLog(redis_client).recent(5, area="noc") if e.action == "log.export"]


def test_console_export_is_a_csrf_protected_post(app: Flask, redis_client: Any) -> None:
    """Another site must not make a signed-in NOC browser export personal data: no GET link, and
    a POST without the session's CSRF token is refused (and not audited)."""
    fill(redis_client, 3, days=1)
    noc = signed_in(app, redis_client)
    html = noc.get("/noc/logs").get_data(as_text=True)
    assert 'id="export-form"' in html and 'method="post"' in html.split('id="export-form"')[0][-200:]
    query = "stream=realname&from=2026-05-01&to=2026-05-01&format=csv"
    assert noc.get(f"/noc/logs/export?{query}").status_code == 405
    assert noc.post("/noc/logs/export", data={"stream": "realname", "from": "2026-05-01",
                                              "to": "2026-05-01"}).status_code == 400
    assert post_export(noc, query, "forged-token").status_code == 400
    assert not [e for e in AuditLog(redis_client).recent(5, area="noc") if e.action == "log.export"]
    resp = post_export(noc, query)
    assert resp.status_code == 200 and resp.get_data().decode("utf-8").count("\r\n") == 4


def test_api_auth_and_documented(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    resp = client.get("/api/v1/logs/realname?from=2026-05-01&to=2026-05-01")
    assert resp.status_code == 401
    assert_matches_openapi(app, "GET", "/logs/{stream}", resp)
    # Personal data: read and write tokens are refused, export tokens let in.
    for scope in ("read", "write"):
        resp = client.get("/api/v1/logs/realname?from=2026-05-01&to=2026-05-01",
                          headers=auth(token(redis_client, scope)))
        assert resp.status_code == 403
        assert_matches_openapi(app, "GET", "/logs/{stream}", resp)
    resp = client.get("/api/v1/logs/realname?from=2026-05-01&to=2026-05-01",
                      headers=auth(token(redis_client, "export")))
    assert resp.status_code == 200
    assert_matches_openapi(app, "GET", "/logs/{stream}", resp)


def test_api_jsonl_with_epoch_and_iso_bounds(app: Flask, redis_client: Any) -> None:
    fill(redis_client, 20)
    secret = token(redis_client, "export", "bureau")
    read = auth(secret)
    start = BASE_MS / 1000 + DAY_MS / 1000          # 2026-05-02 00:00 local
    resp = app.test_client().get(f"/api/v1/logs/realname?from={start}&to={start + 10}&format=jsonl",
                                 headers=read)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in resp.get_data(as_text=True).splitlines()]
    assert len(lines) == 10 and all(r["venue"] == "v1" for r in lines)
    resp = app.test_client().get(
        "/api/v1/logs/realname?from=2026-05-01T00:00:00%2B08:00&to=2026-05-01T00:00:05&format=jsonl"
        "&phone=18900000003", headers=read)
    lines = resp.get_data(as_text=True).splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["phone"] == "18900000003"
    entry = AuditLog(redis_client).recent(1, area="api")[0]
    token_id = secret.split("_")[1]
    assert (entry.actor, entry.action, entry.target) == (f"token:{token_id}", "log.export", "realname")
    assert entry.actor_name.startswith("bureau (")
    assert entry.after["filters"] == {"phone": "18900000003"}


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/v1/logs/realname?to=2026-05-01", 400, "invalid"),
    ("/api/v1/logs/realname?from=2026-05-01&to=someday", 400, "invalid"),
    ("/api/v1/logs/realname?from=2026-05-02&to=2026-05-01", 400, "bad_range"),
    ("/api/v1/logs/realname?from=2026-05-01&to=2026-05-01&format=xml", 400, "bad_format"),
    ("/api/v1/logs/realname?from=2026-05-01&to=2026-05-01&mac=xyz", 400, "bad_mac"),
    ("/api/v1/logs/audit?from=2026-05-01&to=2026-05-01&ac=ac1", 400, "bad_filter"),
    ("/api/v1/logs/passwords?from=2026-05-01&to=2026-05-01", 404, "bad_stream"),
    ("/api/v1/logs/realname?from=2026-99-01&to=2026-05-01", 400, "invalid"),
])
def test_api_bad_requests(app: Flask, redis_client: Any, path: str, status: int, code: str) -> None:
    resp = app.test_client().get(path, headers=auth(token(redis_client, "export")))
    assert resp.status_code == status
    error = resp.get_json()["error"]
    assert error["code"] == code and error["message"] and error["message_zh"]
    assert_matches_openapi(app, "GET", "/logs/{stream}", resp)
    assert not AuditLog(redis_client).recent(5, area="api")


def _stream_peak(client: FlaskClient, headers: dict[str, str], last_day: str) -> tuple[int, int, int]:
    """(bytes, CRLF lines, tracemalloc peak) of one streamed export read chunk by chunk."""
    tracemalloc.start()
    try:
        resp = client.get(f"/api/v1/logs/realname?from=2026-05-01&to={last_day}", headers=headers,
                          buffered=False)
        assert resp.status_code == 200 and resp.is_streamed
        total = rows = 0
        for chunk in resp.response:
            assert isinstance(chunk, bytes)
            total += len(chunk)
            rows += chunk.count(b"\r\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    resp.close()
    return total, rows, peak


@pytest.mark.slow   # ~10 s: 25k rows read under tracemalloc
def test_api_export_is_streamed_in_flat_memory(app: Flask, redis_client: Any) -> None:
    fill(redis_client, 5_000)
    client = app.test_client()
    read = auth(token(redis_client, "export"))
    _stream_peak(client, read, "2026-05-01")                 # warm-up: imports, caches, schemas
    one_day, rows1, peak1 = _stream_peak(client, read, "2026-05-01")
    three_days, rows3, peak3 = _stream_peak(client, read, "2026-05-03")
    assert (rows1, rows3) == (5_001, 15_001)                   # header + every row
    # Three times the data, not three times the memory: the peak is a page, not the range.
    assert three_days > 2.9 * one_day
    assert peak3 < peak1 * 1.3 + 200_000, (peak1, peak3, three_days)
