"""The web process's /healthz, /readyz and /metrics, the NOC dashboard page and its live JSON,
and GET /api/v1/stats/live — on real Redis (readiness really loses its own Redis)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.admin.accounts import Role
from portal.noc.livestats import LiveStats
from portal.runtime.settings import MetricsSettings
from portal.state.embedded import EmbeddedRedis
from portal.web import create_app
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import create_account, login, make_app, make_settings


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def online_session(redis_client: Any, n: int) -> None:
    AcRegistry(redis_client).put(AcRecord(name="ac1", addresses=("10.0.0.1",), secret="s3cret-for-tests-16"))
    SessionRegistry(redis_client).open(OnlineSession(ac="ac1", session_id=f"s{n}", phone=f"1380013800{n}",
                                                     started=1, updated=2_000_000_000,
                                                     venue="library"))


def test_healthz_and_readyz(app: Flask) -> None:
    client = app.test_client()
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "alive"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json() == {"status": "ready"}


def test_readyz_turns_503_when_redis_dies_and_200_when_it_returns(tmp_path: Path, data_dir: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r", port=0).start()
    client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
    try:
        app = create_app(make_settings(data_dir), client)
        web = app.test_client()
        assert web.get("/readyz").status_code == 200
        server.stop()
        import time

        time.sleep(1.1)    # past the 1 s cache of a healthy answer
        r = web.get("/readyz")
        assert r.status_code == 503
        body = r.get_json()
        assert body["status"] == "unavailable" and "redis" in body["reason"]
        assert web.get("/healthz").status_code == 200   # alive all the same
        server.start()
        # A bad answer is kept for the probe's 1 s too (a burst of probes costs one write):
        # ready again within that second, not at once.
        deadline = time.monotonic() + 3.0
        while web.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert web.get("/readyz").status_code == 200
    finally:
        client.close()
        server.stop()


def test_metrics_exposes_web_requests_and_fleet_figures(app: Flask, redis_client: Any) -> None:
    online_session(redis_client, 1)
    stats = LiveStats(redis_client)
    stats.record_login("sms", "library")
    stats.record_codes("sent", 2)
    stats.record_rejects({"blocked": 3})
    client = app.test_client()
    client.get("/healthz")
    client.get("/no-such-page")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    got = samples(r.get_data(as_text=True))
    assert got[("citywifi_web_requests_total", (("area", "ops"), ("status", "2xx")))] >= 1
    assert got[("citywifi_web_requests_total", (("area", "other"), ("status", "4xx")))] >= 1
    assert got[("citywifi_fleet_logins_total", (("kind", "sms"),))] == 1
    assert got[("citywifi_fleet_codes_total", (("outcome", "sent"),))] == 2
    assert got[("citywifi_fleet_sms_spend_fen_total", ())] == 8
    assert got[("citywifi_fleet_auth_rejects_total", (("reason", "blocked"),))] == 3
    assert got[("citywifi_online_sessions", ())] == 1
    assert got[("citywifi_online_sessions_by_ac", (("ac", "ac1"),))] == 1
    assert got[("citywifi_fleet_up", ())] == 1
    # Never a phone number or MAC in a label.
    assert "13800138001" not in r.get_data(as_text=True)


def test_metrics_token(redis_client: Any, data_dir: Path) -> None:
    settings = dataclasses.replace(make_settings(data_dir), metrics=MetricsSettings(web_token="scrape-me"))
    client = create_app(settings, redis_client).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


def test_dashboard_requires_noc_or_admin(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    r = client.get("/noc")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/noc/live.json").status_code == 302
    _, pw = create_account(redis_client, "venueop", Role.VENUE, ("library",))
    login(client, "venueop", pw)
    assert client.get("/noc").status_code == 403
    assert client.get("/noc/live.json").status_code == 403


@pytest.mark.parametrize("role", [Role.NOC, Role.ADMIN])
def test_dashboard_page_and_live_json(app: Flask, redis_client: Any, role: Role) -> None:
    online_session(redis_client, 1)
    _, pw = create_account(redis_client, "ops", role)
    client = app.test_client()
    assert login(client, "ops", pw).status_code == 302
    r = client.get("/noc")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'id="online-total">1<' in html
    assert "noc_dashboard.js" in html and "charts.js" in html
    live = client.get("/noc/live.json?minutes=15")
    assert live.status_code == 200 and live.headers["Cache-Control"] == "no-store"
    before = live.get_json()
    assert before["minutes"] == 15 and before["online"]["total"] == 1
    LiveStats(redis_client).record_login("returning", "library")
    online_session(redis_client, 2)
    after = client.get("/noc/live.json?minutes=15").get_json()
    assert after["logins_window"]["returning"] == before["logins_window"]["returning"] + 1
    assert after["online"]["total"] == 2
    assert client.get("/noc/live.json?minutes=abc").get_json()["minutes"] == 60
    # English labels with the language cookie.
    client.set_cookie("cw_lang", "en")
    assert "Online now" in client.get("/noc").get_data(as_text=True)


def test_api_stats_live(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    r = client.get("/api/v1/stats/live")
    assert r.status_code == 401
    assert_matches_openapi(app, "GET", "/stats/live", r)
    LiveStats(redis_client).record_codes("sent")
    secret = token(redis_client, "read")
    r = client.get("/api/v1/stats/live?minutes=5", headers=auth(secret))
    assert r.status_code == 200
    assert_matches_openapi(app, "GET", "/stats/live", r)
    body = r.get_json()
    assert body["minutes"] == 5 and body["codes_window"]["sent"] == 1 and len(body["labels"]) == 5
    for bad in ("0", "1441", "x", "-3"):
        r = client.get(f"/api/v1/stats/live?minutes={bad}", headers=auth(secret))
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_minutes"
        assert_matches_openapi(app, "GET", "/stats/live", r)
    r = client.get("/api/v1/stats/live", headers=auth(token(redis_client, "write")))
    assert r.status_code == 200


def test_dashboard_shows_every_figure_the_issue_lists(redis_client: Any, data_dir: Path) -> None:
    """Online now, logins per minute, codes sent/delivered/failed, SMS spend against the budget,
    auth failures by reason, online per AC and per venue — on the page and in live.json."""
    from portal.venues.venue_store import Venue, VenueStore

    settings = make_settings(data_dir)
    settings = dataclasses.replace(settings, sms=dataclasses.replace(
        settings.sms, price_fen=5, budget_fen_per_month=10_000))
    app = create_app(settings, redis_client)
    online_session(redis_client, 1)
    VenueStore(redis_client, cache_ttl=0.0).put(Venue("library", acs=("ac1",)))
    stats = LiveStats.from_settings(redis_client, settings)
    stats.record_login("sms", "library")
    stats.record_codes("sent", 3)
    stats.record_codes("delivered", 2)
    stats.record_codes("failed", 1)
    stats.record_rejects({"bad_password": 2, "blocked": 1})
    _, pw = create_account(redis_client, "ops", Role.NOC)
    client = app.test_client()
    assert login(client, "ops", pw).status_code == 302
    html = client.get("/noc").get_data(as_text=True)
    for element, value in (("online-total", "1"), ("logins-window", "1"), ("codes-sent", "3"),
                           ("codes-delivered", "2"), ("codes-failed", "1"), ("sms-spend", "0.15"),
                           ("rejects-window", "3")):
        assert f'id="{element}">{value}<' in html, element
    assert "/ 100.00" in html                                     # the monthly budget (CNY)
    for chart in ("chart-logins", "chart-codes", "chart-rejects", "chart-acs", "chart-venues"):
        assert f'id="{chart}"' in html
    live = client.get("/noc/live.json").get_json()
    assert live["online"]["by_ac"] == {"ac1": 1} and live["online"]["by_venue"] == {"library": 1}
    assert live["rejects_window"] == {"bad_password": 2, "blocked": 1}
    assert live["logins"]["total"][-1] == 1 and len(live["logins"]["total"]) == live["minutes"]
    assert live["sms"]["spent_fen"] == 15 and live["sms"]["budget_used"] == 0.0015
