"""A kick must not hold a web thread while the AC makes it wait.

Ten NOC users kick ten sessions at once on an AC that never answers (RFC 5176 timeouts × retries,
then the Portal REQ_LOGOUT fallback, also unanswered): every request answers at once with a job,
the jobs run on the bounded per-process pool, and each ends with its honest outcome
(``no_answer`` after the fallback was tried). Real Redis, real UDP sockets on loopback (a bound
socket that never replies), the Flask app with real console sign-in and API tokens.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from portal.web import create_app
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import create_account, csrf, login, make_settings
from tests.portal.web.noc.jobkit import console_job, finished_job

DM_TIMEOUT, DM_TRIES, WORKERS = 0.5, 2, 4


@pytest.fixture
def silent_nas() -> Iterator[tuple[int, int]]:
    """(CoA port, Portal port) of a NAS that receives and never answers."""
    coa, portal = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET,
                                                                                 socket.SOCK_DGRAM)
    coa.bind(("127.0.0.1", 0))
    portal.bind(("127.0.0.1", 0))
    try:
        yield coa.getsockname()[1], portal.getsockname()[1]
    finally:
        coa.close()
        portal.close()


@pytest.fixture
def app(redis_client: Any, data_dir: Path, silent_nas: tuple[int, int]) -> Flask:
    coa_port, portal_port = silent_nas
    AcRegistry(redis_client).put(AcRecord(
        name="mute", addresses=("127.0.0.1",), secret="portal-secret", radius_secret="radius-secret",
        coa_port=coa_port, port=portal_port, rfc5176=True, timeout=0.2, retries=1))
    PlanStore(redis_client).put(Plan("basic"))
    now = int(time.time())
    for i in range(10):
        SessionRegistry(redis_client).open(OnlineSession(
            "mute", f"S{i}", f"1890000{i:04d}", mac=f"02:00:00:00:01:{i:02x}", ip=f"10.1.0.{i + 1}",
            started=now - 60, updated=now, plan="basic", session_time=60))
    settings = make_settings(data_dir)
    settings = dataclasses.replace(
        settings, radius=dataclasses.replace(settings.radius, coa_timeout=DM_TIMEOUT, coa_retries=DM_TRIES),
        console=dataclasses.replace(settings.console, job_workers=WORKERS))
    flask_app = create_app(settings, redis_client)
    flask_app.config["TESTING"] = True
    return flask_app


def _parallel(n: int, call: Any) -> tuple[list[Any], list[float]]:
    """Run ``call(i)`` for i < n in n threads released together; (results, seconds each took)."""
    results: list[Any] = [None] * n
    took = [0.0] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        started = time.monotonic()
        results[i] = call(i)
        took[i] = time.monotonic() - started

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, took


def test_ten_parallel_api_kicks_answer_at_once_and_end_as_no_answer(app: Flask, redis_client: Any) -> None:
    write = auth(token(redis_client, "write", "noc-bot"))
    one_kick = DM_TIMEOUT * DM_TRIES            # what each kick waits on the AC, at least
    started = time.monotonic()
    responses, took = _parallel(10, lambda i: app.test_client().post(
        f"/api/v1/sessions/mute/S{i}/kick", headers=write))
    answered = time.monotonic() - started
    assert [r.status_code for r in responses] == [202] * 10
    for resp in responses:
        assert_matches_openapi(app, "POST", "/sessions/{ac}/{session_id}/kick", resp)
        assert resp.get_json()["state"] in ("queued", "running", "done")
    # Measured: each request answered in a few ms; the ten together far below ONE kick's wait.
    assert max(took) < one_kick / 2, took
    assert answered < one_kick, answered
    jobs = [finished_job(app, redis_client, r.get_json()["status_url"], timeout=60) for r in responses]
    finished = time.monotonic() - started
    for i, job in enumerate(jobs):
        assert (job["state"], job["target"]) == ("done", f"mute|S{i}")
        (kick,) = job["result"]["kicks"]
        # RFC 5176 unanswered → the Portal REQ_LOGOUT fallback was tried, unanswered too.
        assert (kick["ok"], kick["method"], kick["outcome"]) == (False, "portal", "no_answer"), kick
        assert "no answer to Disconnect-Request" in kick["detail"]
    # Ten jobs on four threads: three rounds of one kick's wait — the wait happened, in job
    # threads, not in the ten web requests. (Bounded by two rounds: a retry's socket wait may end
    # a little early, and three rounds measured 2.7–2.9 s against 3 × 1 s.)
    assert finished >= 2 * one_kick
    assert all(SessionRegistry(redis_client).get("mute", f"S{i}") for i in range(10))   # still online


def test_console_kicks_answer_at_once_and_the_job_page_shows_the_fallback(app: Flask,
                                                                         redis_client: Any) -> None:
    _account, password = create_account(redis_client, "noc-a", Role.NOC)
    noc = app.test_client()
    assert login(noc, "noc-a", password).status_code == 302
    token_ = csrf(noc, "/noc/sessions")
    started = time.monotonic()
    resp = noc.post("/noc/sessions/kick", data={"ac": "mute", "session_id": "S3", "f_ac": "mute",
                                                "csrf_token": token_})
    assert time.monotonic() - started < DM_TIMEOUT and resp.status_code == 302
    first = noc.get(resp.headers["Location"])
    assert first.headers.get("Refresh") == "1" and 'data-state="' in first.get_data(as_text=True)
    page = console_job(noc, resp.headers["Location"], timeout=30)
    assert 'data-outcome="no_answer"' in page and "AC 未响应" in page
    assert 'href="/noc/sessions?ac=mute" id="job-back"' in page


def test_job_status_is_documented_and_guarded(app: Flask, redis_client: Any) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/jobs/{job_id}"]["get"]
    assert op["x-scope"] == "read" and "finished" in op["responses"]["200"]["content"][
        "application/json"]["schema"]["required"]
    kick = doc["paths"]["/sessions/{ac}/{session_id}/kick"]["post"]
    assert "202" in kick["responses"] and "503" in kick["responses"]
    assert "status_url" in kick["responses"]["202"]["content"]["application/json"]["schema"]["required"]
    client = app.test_client()
    assert client.get("/api/v1/jobs/whatever-id-1").status_code == 401
    missing = client.get("/api/v1/jobs/whatever-id-1", headers=auth(token(redis_client)))
    assert missing.status_code == 404 and missing.get_json()["error"]["message_zh"]
    assert_matches_openapi(app, "GET", "/jobs/{job_id}", missing)


def test_a_full_queue_is_refused_clearly(redis_client: Any, data_dir: Path,
                                         silent_nas: tuple[int, int]) -> None:
    """One job thread, one queue slot: the third kick at once is a 503 'busy', not a wait."""
    coa_port, portal_port = silent_nas
    AcRegistry(redis_client).put(AcRecord(
        name="mute", addresses=("127.0.0.1",), secret="portal-secret", radius_secret="radius-secret",
        coa_port=coa_port, port=portal_port, rfc5176=True, timeout=0.2, retries=1))
    now = int(time.time())
    for i in range(3):
        SessionRegistry(redis_client).open(OnlineSession("mute", f"S{i}", f"1890000{i:04d}",
                                                         ip=f"10.1.0.{i + 1}", started=now, updated=now))
    settings = make_settings(data_dir)
    settings = dataclasses.replace(
        settings, radius=dataclasses.replace(settings.radius, coa_timeout=1.0, coa_retries=2),
        console=dataclasses.replace(settings.console, job_workers=1, job_queue=1))
    flask_app = create_app(settings, redis_client)
    write = auth(token(redis_client, "write"))
    codes = []
    for i in range(3):
        codes.append(flask_app.test_client().post(f"/api/v1/sessions/mute/S{i}/kick", headers=write))
        time.sleep(0.1)                 # the first is taken by the thread, the second waits
    assert [r.status_code for r in codes] == [202, 202, 503]
    body = codes[2].get_json()["error"]
    assert body["code"] == "busy" and body["message_zh"] and "try again" in body["message"]
    assert_matches_openapi(flask_app, "POST", "/sessions/{ac}/{session_id}/kick", codes[2])


def test_a_phone_plan_change_when_the_queue_is_full_is_503_and_changes_nothing(
        redis_client: Any, data_dir: Path, silent_nas: tuple[int, int]) -> None:
    """PUT /users/{phone}/plan runs as a job too: with the job thread and its queue slot taken
    it answers 503 'busy', and the phone keeps its plan (the override is set by the job)."""
    coa_port, portal_port = silent_nas
    AcRegistry(redis_client).put(AcRecord(
        name="mute", addresses=("127.0.0.1",), secret="portal-secret", radius_secret="radius-secret",
        coa_port=coa_port, port=portal_port, rfc5176=True, timeout=0.2, retries=1))
    PlanStore(redis_client).put(Plan(name="gold", up_kbps=5000))
    now = int(time.time())
    for i in range(2):
        SessionRegistry(redis_client).open(OnlineSession("mute", f"S{i}", f"1890000{i:04d}",
                                                         ip=f"10.1.0.{i + 1}", started=now, updated=now))
    settings = make_settings(data_dir)
    settings = dataclasses.replace(
        settings, radius=dataclasses.replace(settings.radius, coa_timeout=1.0, coa_retries=2),
        console=dataclasses.replace(settings.console, job_workers=1, job_queue=1))
    flask_app = create_app(settings, redis_client)
    write = auth(token(redis_client, "write"))
    for i in range(2):
        assert flask_app.test_client().post(f"/api/v1/sessions/mute/S{i}/kick",
                                            headers=write).status_code == 202
        time.sleep(0.1)
    resp = flask_app.test_client().put("/api/v1/users/18900000000/plan", json={"plan": "gold"},
                                       headers=write)
    assert resp.status_code == 503, resp.get_json()
    assert resp.get_json()["error"]["code"] == "busy"
    assert_matches_openapi(flask_app, "PUT", "/users/{phone}/plan", resp)
    assert PlanStore(redis_client).user_plan("18900000000") is None
    assert "user.plan" not in {e.action for e in AuditLog(redis_client).recent(20, area="api")}
