"""NOC users: ``/api/v1/users/{phone}…`` (profile, kick, plan change by CoA, unbind) and the
console pages ``/noc/users`` — CoA to a loopback RFC 5176 AC (real UDP), the "next login"
outcome for an AC without RFC 5176, audit with before/after, authorisation, bad input, CSRF."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.aaa.credentials import CredentialStore
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import SessionRegistry
from portal.aaa.usage import UsageBook
from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from radius.rfc5176 import DynCode
from tests.conftest import free_udp_port
from tests.fakes.dm_server import FakeDmServer
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import csrf
from tests.portal.web.noc.jobkit import console_job, finished_job
from tests.portal.web.noc.nockit import SECRET, make_noc_app, open_session, put_ac, signed_in

PHONE = "18900000007"
MAC = "02:00:00:00:00:07"


@pytest.fixture
def dm() -> Iterator[FakeDmServer]:
    with FakeDmServer(SECRET.encode()) as server:
        yield server


@pytest.fixture
def app(redis_client: Any, data_dir: Path, dm: FakeDmServer) -> Flask:
    plans = PlanStore(redis_client, cache_ttl=0.0)
    plans.put(Plan(name="basic", up_kbps=1000, down_kbps=4000, validity_days=30))
    plans.put(Plan(name="gold", up_kbps=5000, down_kbps=20000, session_timeout=3600))
    plans.put(Plan(name="old", retired=True))
    plans.put(Plan(name="tiny", total_volume=1000))
    put_ac(redis_client, "ac1", dm.port)
    put_ac(redis_client, "legacy", free_udp_port(), rfc5176=False, address="127.0.0.3")
    UsageBook(redis_client).add(PHONE, 120, 4000, time.time())
    CredentialStore(redis_client).bind_mac(MAC, PHONE, 7)
    open_session(redis_client, PHONE, "ac1", "S7", 7, plan="basic")
    return make_noc_app(redis_client, data_dir)


def _client(app: Flask, redis: Any, scope: str = "read",
            name: str | None = None) -> tuple[Any, dict[str, str]]:
    return app.test_client(), auth(token(redis, scope, name))


# -- API: profile -----------------------------------------------------------------------------

def test_profile(app: Flask, redis_client: Any) -> None:
    client, headers = _client(app, redis_client)
    assert client.get(f"/api/v1/users/{PHONE}").status_code == 401
    resp = client.get("/api/v1/users/+86%20189-0000-0007", headers=headers)
    assert resp.status_code == 200
    assert_matches_openapi(app, "GET", "/users/{phone}", resp)
    body = resp.get_json()
    assert body["phone"] == PHONE
    assert body["plan"]["override"] is None
    assert (body["plan"]["effective"], body["plan"]["source"]) == ("basic", "session")
    assert body["usage"]["today"] == {"time": 120, "octets": 4000}
    assert body["usage"]["total"] == {"time": 120, "octets": 4000}
    first = body["validity"]["first_login"]
    assert first is not None and body["validity"]["expires"] == pytest.approx(first + 30 * 86400)
    assert [m["mac"] for m in body["macs"]] == [MAC] and body["macs"][0]["expires"] > time.time()
    assert [(s["ac"], s["session_id"]) for s in body["online"]] == [("ac1", "S7")]
    (login_,) = body["logins"]
    assert (login_["ssid"], login_["venue"], login_["kind"], login_["mac"]) == \
        ("CityWiFi", "library", "sms", MAC)


def test_profile_bad_phone_is_400(app: Flask, redis_client: Any) -> None:
    client, headers = _client(app, redis_client)
    resp = client.get("/api/v1/users/not-a-phone", headers=headers)
    assert resp.status_code == 400 and "not a phone number" in resp.get_json()["error"]["message"]
    assert_matches_openapi(app, "GET", "/users/{phone}", resp)


def test_profile_of_unknown_phone_is_empty_not_an_error(app: Flask, redis_client: Any) -> None:
    client, headers = _client(app, redis_client)
    body = client.get("/api/v1/users/13300000000", headers=headers).get_json()
    assert body["online"] == [] and body["macs"] == [] and body["usage"]["total"]["time"] == 0


# -- API: plan change -------------------------------------------------------------------------

def test_plan_change_needs_write_and_valid_body(app: Flask, redis_client: Any) -> None:
    url = f"/api/v1/users/{PHONE}/plan"
    client, read = _client(app, redis_client)
    _c, write = _client(app, redis_client, "write")
    assert client.put(url, json={"plan": "gold"}).status_code == 401
    resp = client.put(url, json={"plan": "gold"}, headers=read)
    assert resp.status_code == 403
    assert_matches_openapi(app, "PUT", "/users/{phone}/plan", resp)
    for body, status, words in (({"plan": 5}, 400, "plan"), ({}, 400, "plan"),
                                ({"plan": "gold", "x": 1}, 400, "x"),
                                ({"plan": "nope"}, 404, "nope"), ({"plan": "old"}, 400, "retired")):
        resp = client.put(url, json=body, headers=write)
        assert resp.status_code == status, (body, resp.get_json())
        assert words in resp.get_json()["error"]["message"]
        assert_matches_openapi(app, "PUT", "/users/{phone}/plan", resp)
    resp = client.put(url, data="plan=gold", headers=write)
    assert resp.status_code == 415
    assert PlanStore(redis_client).user_plan(PHONE) is None


def _plan_job(app: Flask, redis: Any, client: Any, headers: dict[str, str],
              plan: str | None) -> dict[str, Any]:
    """PUT the plan (202 with a job at once) and wait for the job; returns its result."""
    resp = client.put(f"/api/v1/users/{PHONE}/plan", json={"plan": plan}, headers=headers)
    assert resp.status_code == 202, resp.get_json()
    assert_matches_openapi(app, "PUT", "/users/{phone}/plan", resp)
    job = finished_job(app, redis, resp.get_json()["status_url"])
    assert (job["kind"], job["target"], job["state"]) == ("user_plan", PHONE, "done"), job
    result: dict[str, Any] = job["result"]
    return result


def test_plan_change_reaches_the_live_session_by_coa(app: Flask, redis_client: Any,
                                                    dm: FakeDmServer) -> None:
    client, headers = _client(app, redis_client, "write", "ops")
    body = _plan_job(app, redis_client, client, headers, "gold")
    assert (body["before"], body["after"]) == (None, "gold")
    (outcome,) = body["sessions"]
    assert (outcome["outcome"], outcome["ok"], outcome["up_kbps"]) == ("coa", True, 5000)
    assert "CoA" in outcome["message"] and outcome["message_zh"]
    assert body["message"] == "Plan set to gold; applied to 1 of 1 online sessions."
    (coa,) = dm.received
    assert coa.code == DynCode.COA_REQUEST
    assert dm.attr(0, "Acct-Session-Id") == "S7"
    # Session cap 3600 s minus the ~20 s the session has already run (by the clock since its
    # start, which may have ticked once more since the test opened it).
    assert dm.attr(0, "Session-Timeout") == outcome["session_timeout"]
    assert 3578 <= outcome["session_timeout"] <= 3580
    assert coa.get((2011, 2)) is not None               # Huawei Input-Average-Rate
    assert PlanStore(redis_client).user_plan(PHONE) == "gold"
    session = SessionRegistry(redis_client).get("ac1", "S7")
    assert session is not None and session.plan == "gold"
    # Audited when asked for (with the job) and when done (with the outcome), in that order.
    done, asked = AuditLog(redis_client).recent(2, area="api")
    assert (asked.actor_name.split(" ")[0], asked.action, asked.target) == ("ops", "user.plan", PHONE)
    assert asked.before == {"override": None} and asked.after["plan"] == "gold" and asked.after["job"]
    assert (done.action, done.after["result"]["after"]) == ("user.plan.done", "gold")
    # Removing the override: rules decide again, live sessions are left alone.
    body = _plan_job(app, redis_client, client, headers, None)
    assert (body["before"], body["after"], body["sessions"]) == ("gold", None, [])
    assert PlanStore(redis_client).user_plan(PHONE) is None and len(dm.received) == 1


def test_plan_change_answers_before_a_slow_ac_does(app: Flask, redis_client: Any) -> None:
    """The request no longer waits on the ACs: an AC that never answers (CoA timeouts ×
    retries) holds up the job, not the PUT."""
    silent = FakeDmServer(SECRET.encode(), host="127.0.0.4", drop_first=1000)
    with silent:
        put_ac(redis_client, "slow", silent.port, address="127.0.0.4")
        open_session(redis_client, PHONE, "slow", "Z1", 9, plan="basic")
        client, headers = _client(app, redis_client, "write")
        started = time.monotonic()
        resp = client.put(f"/api/v1/users/{PHONE}/plan", json={"plan": "gold"}, headers=headers)
        answered = time.monotonic() - started
        assert resp.status_code == 202 and resp.get_json()["state"] in ("queued", "running", "done")
        job = finished_job(app, redis_client, resp.get_json()["status_url"])
        took = time.monotonic() - started
    by_ac = {o["ac"]: o["outcome"] for o in job["result"]["sessions"]}
    assert by_ac == {"ac1": "coa", "slow": "coa_failed"}, by_ac
    assert len(silent.received) >= 2                  # retransmitted while the request was long done
    # The job waits at least coa_timeout × coa_retries (0.2 s × 2 here) on the silent AC after
    # it was queued; a synchronous PUT would have answered only after that wait.
    assert took - answered >= 0.3, (answered, took)


def test_plan_change_on_an_ac_without_rfc5176_says_next_login(app: Flask, redis_client: Any,
                                                             dm: FakeDmServer) -> None:
    open_session(redis_client, PHONE, "legacy", "L1", 8, plan="basic")
    client, headers = _client(app, redis_client, "write")
    body = _plan_job(app, redis_client, client, headers, "gold")
    by_ac = {o["ac"]: o for o in body["sessions"]}
    assert by_ac["ac1"]["outcome"] == "coa"
    assert by_ac["legacy"]["outcome"] == "next_login" and by_ac["legacy"]["ok"] is False
    assert "next login" in by_ac["legacy"]["message"] and "下次登录" in by_ac["legacy"]["message_zh"]
    legacy = SessionRegistry(redis_client).get("legacy", "L1")
    assert legacy is not None and legacy.plan == "basic"     # unchanged until it logs in again
    assert len(dm.received) == 1                              # nothing sent to the legacy AC


def test_plan_with_its_allowance_used_up_disconnects(app: Flask, redis_client: Any,
                                                     dm: FakeDmServer) -> None:
    client, headers = _client(app, redis_client, "write")
    body = _plan_job(app, redis_client, client, headers, "tiny")
    assert body["sessions"][0]["outcome"] == "disconnected"
    assert dm.received[0].code == DynCode.DISCONNECT_REQUEST
    assert SessionRegistry(redis_client).by_phone(PHONE) == []


# -- API: kick and unbind ---------------------------------------------------------------------

def test_kick_user(app: Flask, redis_client: Any, dm: FakeDmServer) -> None:
    client, read = _client(app, redis_client)
    _c, write = _client(app, redis_client, "write")
    assert client.post(f"/api/v1/users/{PHONE}/kick", headers=read).status_code == 403
    resp = client.post(f"/api/v1/users/{PHONE}/kick", headers=write)
    assert resp.status_code == 202
    assert_matches_openapi(app, "POST", "/users/{phone}/kick", resp)
    job = finished_job(app, redis_client, resp.get_json()["status_url"])
    assert (job["kind"], job["target"]) == ("kick_phone", PHONE)
    assert [o["outcome"] for o in job["result"]["kicks"]] == ["dm"]
    assert SessionRegistry(redis_client).by_phone(PHONE) == []
    again = client.post(f"/api/v1/users/{PHONE}/kick", headers=write)
    assert again.status_code == 202
    assert finished_job(app, redis_client, again.get_json()["status_url"])["result"]["kicks"] == []


def test_unbind(app: Flask, redis_client: Any) -> None:
    client, read = _client(app, redis_client)
    _c, write = _client(app, redis_client, "write")
    url = f"/api/v1/users/{PHONE}/macs/02-00-00-00-00-07"
    assert client.delete(url, headers=read).status_code == 403
    bad = client.delete(f"/api/v1/users/{PHONE}/macs/xyz", headers=write)
    assert bad.status_code == 400 and "MAC" in bad.get_json()["error"]["message"]
    assert_matches_openapi(app, "DELETE", "/users/{phone}/macs/{mac}", bad)
    other = client.delete("/api/v1/users/13300000000/macs/02-00-00-00-00-07", headers=write)
    assert other.status_code == 404
    assert_matches_openapi(app, "DELETE", "/users/{phone}/macs/{mac}", other)
    resp = client.delete(url, headers=write)
    assert resp.status_code == 200 and resp.get_json() == {"phone": PHONE, "unbound": MAC}
    assert_matches_openapi(app, "DELETE", "/users/{phone}/macs/{mac}", resp)
    assert CredentialStore(redis_client).mac_credential(MAC) is None
    entry = AuditLog(redis_client).recent(1, area="api")[0]
    assert entry.action == "user.unbind_mac" and entry.before["mac"] == MAC and entry.after is None


# -- console ----------------------------------------------------------------------------------

def test_console_roles_and_search(app: Flask, redis_client: Any) -> None:
    venue_op = signed_in(app, redis_client, Role.VENUE, "op1", ("library",))
    assert venue_op.get("/noc/users").status_code == 403
    assert venue_op.get(f"/noc/users/{PHONE}").status_code == 403
    noc = signed_in(app, redis_client)
    found = noc.get("/noc/users?phone=%2B86+189-0000-0007")
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/noc/users/{PHONE}")
    assert noc.get("/noc/users?phone=abc").status_code == 400
    assert noc.get("/noc/users/abc").status_code == 404
    page = noc.get(f"/noc/users/{PHONE}").get_data(as_text=True)
    for text in (PHONE, "basic", MAC, "CityWiFi", "library", "ac1", "4.0 kB"):   # decimal units
        assert text in page, text


def test_console_plan_change_and_unbind(app: Flask, redis_client: Any, dm: FakeDmServer) -> None:
    noc = signed_in(app, redis_client)
    url = f"/noc/users/{PHONE}"
    assert noc.post(f"{url}/plan", data={"plan": "gold"}).status_code == 400     # no CSRF
    assert PlanStore(redis_client).user_plan(PHONE) is None
    token_ = csrf(noc, url)
    resp = noc.post(f"{url}/plan", data={"plan": "gold", "csrf_token": token_})
    assert resp.status_code == 302
    page = console_job(noc, resp.headers["Location"])      # the job's page, until it finished
    assert "CoA" in page and 'data-outcome="coa"' in page and f'href="{url}"' in page
    assert PlanStore(redis_client).user_plan(PHONE) == "gold"
    assert dm.received[0].code == DynCode.COA_REQUEST
    entry = AuditLog(redis_client).recent(2, area="noc")[1]
    assert (entry.actor, entry.action, entry.before) == ("user:noc1", "user.plan", {"override": None})
    resp = noc.post(f"{url}/plan", data={"plan": "old", "csrf_token": token_})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(url)   # refused at once
    assert "retired" in noc.get(url).get_data(as_text=True)
    assert PlanStore(redis_client).user_plan(PHONE) == "gold"
    noc.post(f"{url}/unbind", data={"mac": MAC, "csrf_token": token_})
    assert CredentialStore(redis_client).mac_credential(MAC) is None
    assert AuditLog(redis_client).recent(1, area="noc")[0].action == "user.unbind_mac"
