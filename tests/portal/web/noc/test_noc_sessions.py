"""NOC online sessions: ``/api/v1/sessions`` (search, one, kick) and the console page
``/noc/sessions`` — filters, used/left figures, kicks through a loopback RFC 5176 AC (real UDP),
outcomes, audit, authorisation and CSRF."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.aaa.usage import UsageBook
from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from tests.conftest import free_udp_port
from tests.fakes.dm_server import FakeDmServer
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import csrf
from tests.portal.web.noc.jobkit import console_job, finished_job
from tests.portal.web.noc.nockit import SECRET, make_noc_app, open_session, put_ac, signed_in

P1, P2 = "18900000001", "18900000002"


@pytest.fixture
def dm() -> Iterator[FakeDmServer]:
    with FakeDmServer(SECRET.encode()) as server:
        yield server


@pytest.fixture
def world(redis_client: Any, data_dir: Path, dm: FakeDmServer) -> dict[str, Any]:
    """Two ACs (one answering DM/CoA, one silent), a plan, three sessions."""
    plans = PlanStore(redis_client, cache_ttl=0.0)
    plans.put(Plan(name="basic", up_kbps=1000, down_kbps=4000, total_time=7200, total_volume=100_000))
    put_ac(redis_client, "ac1", dm.port)
    put_ac(redis_client, "ac2", free_udp_port(), address="127.0.0.2")          # nothing listens: no answer
    UsageBook(redis_client).add(P1, 600, 10_000, time.time())
    s1 = open_session(redis_client, P1, "ac1", "S1", 1)
    s2 = open_session(redis_client, P2, "ac1", "S2", 2, ssid="Mall", venue="mall")
    s3 = open_session(redis_client, P2, "ac2", "S3", 3)
    return {"app": make_noc_app(redis_client, data_dir), "s1": s1, "s2": s2, "s3": s3}


def _get(app: Flask, redis: Any, url: str, scope: str = "read") -> Any:
    return app.test_client().get(url, headers=auth(token(redis, scope)))


# -- API: search ------------------------------------------------------------------------------

def test_list_requires_a_token(world: dict[str, Any]) -> None:
    resp = world["app"].test_client().get("/api/v1/sessions")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    assert_matches_openapi(world["app"], "GET", "/sessions", resp)


def test_list_all_and_each_filter(world: dict[str, Any], redis_client: Any) -> None:
    app = world["app"]

    def ids(url: str) -> list[str]:
        resp = _get(app, redis_client, url)
        assert resp.status_code == 200, resp.get_json()
        assert_matches_openapi(app, "GET", "/sessions", resp)
        return sorted(s["session_id"] for s in resp.get_json()["sessions"])

    assert ids("/api/v1/sessions") == ["S1", "S2", "S3"]
    assert ids(f"/api/v1/sessions?phone={P2}") == ["S2", "S3"]
    assert ids("/api/v1/sessions?phone=%2B86%20189-0000-0002") == ["S2", "S3"]   # normalised
    assert ids("/api/v1/sessions?mac=02-00-00-00-00-02") == ["S2"]               # any notation
    assert ids("/api/v1/sessions?ip=10.0.0.3") == ["S3"]
    assert ids("/api/v1/sessions?ac=ac1") == ["S1", "S2"]
    assert ids("/api/v1/sessions?ssid=Mall") == ["S2"]
    assert ids("/api/v1/sessions?venue=library") == ["S1", "S3"]
    assert ids(f"/api/v1/sessions?venue=library&phone={P2}") == ["S3"]
    assert ids("/api/v1/sessions?ac=nope") == []


def test_list_pages(world: dict[str, Any], redis_client: Any) -> None:
    first = _get(world["app"], redis_client, "/api/v1/sessions?limit=2").get_json()
    second = _get(world["app"], redis_client, "/api/v1/sessions?limit=2&offset=2").get_json()
    assert first["total"] == second["total"] == 3
    got = [s["session_id"] for s in first["sessions"] + second["sessions"]]
    assert sorted(got) == ["S1", "S2", "S3"]
    filtered = _get(world["app"], redis_client, f"/api/v1/sessions?phone={P2}&limit=1").get_json()
    assert filtered["total"] == 2 and len(filtered["sessions"]) == 1


def test_session_shows_used_and_left(world: dict[str, Any], redis_client: Any) -> None:
    resp = _get(world["app"], redis_client, f"/api/v1/sessions?phone={P1}")
    (s,) = resp.get_json()["sessions"]
    assert (s["ac"], s["mac"], s["ip"], s["ssid"], s["venue"], s["ap"]) == \
        ("ac1", "02:00:00:00:00:01", "10.0.0.1", "CityWiFi", "library", "ap-1")
    assert s["plan"] == "basic" and s["octets"] == 5000 and s["started"] == world["s1"].started
    assert s["used_total"] == {"time": 600, "octets": 10_000}
    assert s["time_left"] == 7200 - 600          # total_time minus what the phone used
    assert s["data_left"] == 100_000 - 10_000


@pytest.mark.parametrize("query,field", [
    ("limit=abc", "limit"), ("limit=0", "limit"), ("offset=-1", "offset"),
    ("mac=not-a-mac", "mac"), ("phone=call-me", "call-me"), ("ip=" + "x" * 200, "ip"),
])
def test_list_bad_input_is_a_clear_400(world: dict[str, Any], redis_client: Any, query: str,
                                       field: str) -> None:
    resp = _get(world["app"], redis_client, f"/api/v1/sessions?{query}")
    assert resp.status_code == 400
    body = resp.get_json()["error"]
    assert field in body["message"] and body["message_zh"]
    assert_matches_openapi(world["app"], "GET", "/sessions", resp)


def test_get_one(world: dict[str, Any], redis_client: Any) -> None:
    resp = _get(world["app"], redis_client, "/api/v1/sessions/ac1/S1")
    assert resp.status_code == 200 and resp.get_json()["phone"] == P1
    assert_matches_openapi(world["app"], "GET", "/sessions/{ac}/{session_id}", resp)
    missing = _get(world["app"], redis_client, "/api/v1/sessions/ac1/nope")
    assert missing.status_code == 404
    assert_matches_openapi(world["app"], "GET", "/sessions/{ac}/{session_id}", missing)


# -- API: kick --------------------------------------------------------------------------------

def test_kick_needs_a_write_token(world: dict[str, Any], redis_client: Any) -> None:
    client = world["app"].test_client()
    url = "/api/v1/sessions/ac1/S1/kick"
    assert client.post(url).status_code == 401
    resp = client.post(url, headers=auth(token(redis_client, "read")))
    assert resp.status_code == 403
    assert_matches_openapi(world["app"], "POST", "/sessions/{ac}/{session_id}/kick", resp)
    assert SessionRegistry(redis_client).get("ac1", "S1") is not None


def test_kick_via_dm(world: dict[str, Any], redis_client: Any, dm: FakeDmServer) -> None:
    resp = world["app"].test_client().post("/api/v1/sessions/ac1/S1/kick",
                                           headers=auth(token(redis_client, "write", "ops")))
    assert resp.status_code == 202
    assert_matches_openapi(world["app"], "POST", "/sessions/{ac}/{session_id}/kick", resp)
    job = finished_job(world["app"], redis_client, resp.get_json()["status_url"])
    assert (job["kind"], job["target"], job["state"]) == ("kick_session", "ac1|S1", "done")
    (body,) = job["result"]["kicks"]
    assert (body["ok"], body["method"], body["outcome"]) == (True, "dm", "dm")
    assert "RFC 5176" in body["message"] and body["message_zh"]
    assert dm.attr(0, "Acct-Session-Id") == "S1" and dm.attr(0, "User-Name") == P1
    assert SessionRegistry(redis_client).get("ac1", "S1") is None
    done, asked = AuditLog(redis_client).recent(2, area="api")
    assert (asked.actor_name.split(" ")[0], asked.action, asked.target) == ("ops", "session.kick", "ac1|S1")
    assert asked.before["phone"] == P1 and asked.after["job"] == job["id"]
    assert (done.actor, done.action) == (asked.actor, "session.kick.done")
    assert done.after["result"]["kicks"][0]["outcome"] == "dm"


def test_kick_when_the_ac_does_not_answer(world: dict[str, Any], redis_client: Any) -> None:
    resp = world["app"].test_client().post("/api/v1/sessions/ac2/S3/kick",
                                           headers=auth(token(redis_client, "write")))
    assert resp.status_code == 202
    assert_matches_openapi(world["app"], "POST", "/sessions/{ac}/{session_id}/kick", resp)
    (body,) = finished_job(world["app"], redis_client, resp.get_json()["status_url"])["result"]["kicks"]
    assert body["ok"] is False and body["outcome"] == "no_answer"
    assert "did not answer" in body["message"] and "未响应" in body["message_zh"]
    assert SessionRegistry(redis_client).get("ac2", "S3") is not None    # still online


def test_kick_unknown_session_is_404(world: dict[str, Any], redis_client: Any) -> None:
    resp = world["app"].test_client().post("/api/v1/sessions/ac1/ghost/kick",
                                           headers=auth(token(redis_client, "write")))
    assert resp.status_code == 404 and resp.get_json()["error"]["message_zh"]
    assert_matches_openapi(world["app"], "POST", "/sessions/{ac}/{session_id}/kick", resp)


# -- console ----------------------------------------------------------------------------------

def test_console_roles(world: dict[str, Any], redis_client: Any) -> None:
    app = world["app"]
    anonymous = app.test_client().get("/noc/sessions")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    venue_op = signed_in(app, redis_client, Role.VENUE, "op1", ("library",))
    assert venue_op.get("/noc/sessions").status_code == 403
    token_ = csrf(venue_op, "/account/password")
    assert venue_op.post("/noc/sessions/kick", data={"ac": "ac1", "session_id": "S1",
                                                     "csrf_token": token_}).status_code == 403
    assert SessionRegistry(redis_client).get("ac1", "S1") is not None


def test_console_lists_and_filters(world: dict[str, Any], redis_client: Any) -> None:
    noc = signed_in(world["app"], redis_client)
    html = noc.get("/noc/sessions").get_data(as_text=True)
    for text in (P1, P2, "ac2", "Mall", "10.0.0.3", "1:50:00"):     # 6600 s left for P1
        assert text in html, text
    only = noc.get("/noc/sessions?ssid=Mall").get_data(as_text=True)
    assert 'data-session="S2"' in only and 'data-session="S1"' not in only
    bad = noc.get("/noc/sessions?mac=zz")
    assert bad.status_code == 400 and "zz" in bad.get_data(as_text=True)


def test_console_kick_with_csrf_flash_and_audit(world: dict[str, Any], redis_client: Any,
                                                dm: FakeDmServer) -> None:
    noc = signed_in(world["app"], redis_client)
    form = {"ac": "ac1", "session_id": "S2", "f_ssid": "Mall"}
    assert noc.post("/noc/sessions/kick", data=form).status_code == 400        # no CSRF token
    assert SessionRegistry(redis_client).get("ac1", "S2") is not None
    form["csrf_token"] = csrf(noc, "/noc/sessions")
    resp = noc.post("/noc/sessions/kick", data=form)
    assert resp.status_code == 302
    job_page = console_job(noc, resp.headers["Location"])
    assert "RFC 5176" in job_page and 'data-outcome="dm"' in job_page
    back = re.search(r'href="([^"]+)" id="job-back"', job_page).group(1).replace("&amp;", "&")
    assert back == "/noc/sessions?ssid=Mall"                       # the same search
    assert 'data-session="S2"' not in noc.get(back).get_data(as_text=True)
    assert SessionRegistry(redis_client).get("ac1", "S2") is None
    done, asked = AuditLog(redis_client).recent(2, area="noc")
    assert (asked.actor, asked.action, asked.target) == ("user:noc1", "session.kick", "ac1|S2")
    assert (done.actor, done.action, done.target) == ("user:noc1", "session.kick.done", "ac1|S2")
    assert done.after["result"]["kicks"][0]["outcome"] == "dm"


def test_console_kick_phone_reports_each_session(world: dict[str, Any], redis_client: Any) -> None:
    noc = signed_in(world["app"], redis_client)
    resp = noc.post("/noc/sessions/kick-phone",
                    data={"phone": P2, "csrf_token": csrf(noc, "/noc/sessions")})
    page = console_job(noc, resp.headers["Location"])
    assert "已通过 RFC 5176" in page            # S2 on ac1 (console default language: zh)
    assert "AC 未响应" in page                   # S3 on the silent ac2
    assert [s.session_id for s in SessionRegistry(redis_client).by_phone(P2)] == ["S3"]
    assert [e.action for e in AuditLog(redis_client).recent(2, area="noc")] == \
        ["session.kick_phone.done", "session.kick_phone"]


def test_ssid_filter_over_many_sessions_reads_the_stream_once(redis_client: Any) -> None:
    """Above the windowed limit the login records are found by one newest-first pass."""
    from portal.noc.session_search import _WINDOWED_MAX, SessionFilter, SessionQuery

    n = _WINDOWED_MAX + 20
    for i in range(n):
        open_session(redis_client, f"1890001{i:04d}", "acx", f"M{i}", i % 250 + 1,
                     ssid="Odd" if i % 2 else "Even")
    query = SessionQuery(redis_client, plans=PlanStore(redis_client), usage=UsageBook(redis_client))
    page = query.search(SessionFilter(ssid="Odd"), 0, 10)
    assert page.total == n // 2 and len(page.items) == 10
    assert all(v.context.ssid == "Odd" for v in page.items)
    assert query.search(SessionFilter(ssid="Even", phone="18900010000"), 0, 10).total == 1


def test_recorded_venue_and_ssid_are_used_without_login_records(redis_client: Any) -> None:
    """Sessions recorded by accounting carry SSID and venue: the filters need no login record,
    and once every online session is indexed, a venue filter reads the venue's index (a
    session opened later without a venue — recorded by an older version — switches back to the
    scan, so it is not missed)."""
    from portal.noc.session_search import SessionFilter, SessionQuery
    from portal.venues.venue_store import Venue, VenueStore

    for venue_id, ssid in (("library", "Lib"), ("mall", "Mall")):
        VenueStore(redis_client).put(Venue(id=venue_id, acs=("ac1",), ssids=(ssid,)))
    reg = SessionRegistry(redis_client)
    now = int(time.time())
    for i, (ssid, venue) in enumerate([("Lib", "library"), ("Mall", "mall"), ("Lib", "library")]):
        reg.open(OnlineSession(ac="ac1", session_id=f"V{i}", phone=f"1890002{i:04d}", started=now,
                               updated=now, ssid=ssid, venue=venue))
    query = SessionQuery(redis_client, plans=PlanStore(redis_client), usage=UsageBook(redis_client))
    assert query._venues_indexed()
    page = query.search(SessionFilter(venue="library"), 0, 10)
    assert sorted(v.session.session_id for v in page.items) == ["V0", "V2"]
    assert {(v.ssid, v.venue) for v in page.items} == {("Lib", "library")}
    assert [v.session.session_id for v in query.search(SessionFilter(ssid="Mall"), 0, 10).items] == ["V1"]
    # A session without a recorded venue, whose login record names the library.
    open_session(redis_client, "18900039999", "ac1", "OLD", 1, ssid="Lib", venue="library")
    assert not query._venues_indexed()
    assert sorted(v.session.session_id
                  for v in query.search(SessionFilter(venue="library"), 0, 10).items) == ["OLD", "V0", "V2"]


def test_the_session_count_agrees_with_its_number_in_english(world: dict[str, Any],
                                                             redis_client: Any) -> None:
    """"1 sessions" was on the page: the English count takes the singular for one."""
    noc = signed_in(world["app"], redis_client)
    noc.set_cookie("cw_lang", "en")
    one = noc.get(f"/noc/sessions?phone={P1}").get_data(as_text=True)
    assert re.search(r'id="session-total">\s*1 session\b(?!s)', one), one
    two = noc.get(f"/noc/sessions?phone={P2}").get_data(as_text=True)
    assert re.search(r'id="session-total">\s*2 sessions\b', two)
    noc.set_cookie("cw_lang", "zh")
    zh = noc.get(f"/noc/sessions?phone={P1}").get_data(as_text=True)
    assert re.search(r'id="session-total">\s*共 1 个会话', zh)


@pytest.mark.parametrize(("n", "expected"), [(1, "1 of 1 session taken offline."),
                                             (2, "1 of 2 sessions taken offline.")])
def test_a_kick_result_counts_sessions_in_good_english(n: int, expected: str) -> None:
    from portal.noc.kick import KickOutcome
    from portal.web.noc.noc_jobs import kick_result
    outcomes = [KickOutcome(ac="ac1", session_id=f"S{i}", phone=P1, ok=i == 0,
                            method="dm" if i == 0 else "none") for i in range(n)]
    assert kick_result(outcomes)["message"] == expected
