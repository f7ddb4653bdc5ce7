"""End to end: a phone logs in through the AC simulator (real Portal protocol, our RADIUS
server, real accounting), appears in ``/api/v1/sessions`` and on ``/noc/sessions``, is kicked
from the console and is really offline on the simulator; a plan change reaches the live session
as a CoA the simulator applies. And for an AC without RFC 5176: the kick goes out as a Portal
REQ_LOGOUT, and the plan change says it applies at the next login.

Real parts only: Redis, the RADIUS server thread, the simulator (Portal server, RADIUS client,
accounting, DM/CoA server), the Flask app (console session, CSRF, API tokens), all on loopback.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from flask import Flask

from ac_adapters.simulator.state import UserState
from portal.aaa.plans import Plan
from portal.aaa.sessions import SessionRegistry
from portal.runtime.settings import ConsoleSettings
from portal.web import create_app
from tests.e2e.stack import AC_NAME, Stack, enable_rfc5176, login_through_ac, running_stack, wait_for
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import csrf
from tests.portal.web.noc.jobkit import console_job, finished_job
from tests.portal.web.noc.nockit import signed_in

GOLD = Plan(name="gold", up_kbps=5000, down_kbps=20000, session_timeout=1800)


def _app(stack: Stack) -> Flask:
    settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
    app = create_app(settings, stack.redis)
    app.config["TESTING"] = True
    return app


def test_console_kick_takes_the_phone_offline_on_the_ac(
    redis_client: Any, redis_url: str, data_dir: Path
) -> None:
    with running_stack(redis_client, redis_url, data_dir, sim={"coa_port": 0}) as stack:
        enable_rfc5176(stack)
        number, ip, _mac = login_through_ac(stack, 1)
        app = _app(stack)
        # In the API …
        listed = app.test_client().get(f"/api/v1/sessions?ip={ip}",
                                       headers=auth(token(redis_client))).get_json()
        (session,) = listed["sessions"]
        assert (session["phone"], session["ac"], session["plan"]) == (number, AC_NAME, "basic")
        # … and on the console page, with its kick button.
        noc = signed_in(app, redis_client)
        page = noc.get("/noc/sessions").get_data(as_text=True)
        assert number in page and f'data-session="{session["session_id"]}"' in page
        resp = noc.post("/noc/sessions/kick", data={
            "ac": AC_NAME, "session_id": session["session_id"], "csrf_token": csrf(noc, "/noc/sessions")})
        assert resp.status_code == 302
        job_page = console_job(noc, resp.headers["Location"])
        assert "RFC 5176" in job_page and 'data-outcome="dm"' in job_page
        # Really offline on the AC, through an RFC 5176 Disconnect it acknowledged.
        assert ip not in stack.ac.online()
        assert stack.ac.state_of(ip) is not UserState.ONLINE
        assert stack.ac.stats["dm_disconnect_ack"] == 1
        after = noc.get("/noc/sessions").get_data(as_text=True)
        assert number not in after.split('id="sessions"')[1]
        # The AC's Stop arrives; nothing of the phone is left online anywhere.
        assert wait_for(lambda: any(a.get("Framed-IP-Address") == ip and a["Acct-Status-Type"] == 2
                                    for a in stack.ac.accounting_log), 5)
        gone = app.test_client().get(f"/api/v1/sessions?phone={number}",
                                     headers=auth(token(redis_client))).get_json()
        assert gone["total"] == 0


def test_plan_change_reaches_the_live_session_by_coa(
    redis_client: Any, redis_url: str, data_dir: Path
) -> None:
    with running_stack(redis_client, redis_url, data_dir, sim={"coa_port": 0}) as stack:
        enable_rfc5176(stack)
        stack.plans.put(GOLD)
        number, ip, _mac = login_through_ac(stack, 2)
        before = stack.ac.online()[ip]
        assert before.rates.get("Huawei-Input-Average-Rate") == 2000 * 1000      # "basic"
        app = _app(stack)
        resp = app.test_client().put(f"/api/v1/users/{number}/plan", json={"plan": "gold"},
                                     headers=auth(token(redis_client, "write")))
        assert resp.status_code == 202, resp.get_json()              # a job; the AC answers later
        job = finished_job(app, redis_client, resp.get_json()["status_url"])
        (outcome,) = job["result"]["sessions"]
        assert outcome["outcome"] == "coa", outcome
        live = stack.ac.online()[ip]                         # still online, new limits applied
        assert stack.ac.stats["coa_applied"] == 1
        assert live.rates.get("Huawei-Input-Average-Rate") == 5000 * 1000
        assert live.rates.get("Huawei-Output-Average-Rate") == 20000 * 1000
        assert live.session_timeout == outcome["session_timeout"]
        assert live.session_timeout is not None and 1790 <= live.session_timeout <= 1800
        session = SessionRegistry(redis_client).by_phone(number)[0]
        assert session.plan == "gold"


def test_ac_without_rfc5176_portal_logout_and_next_login(
    redis_client: Any, redis_url: str, data_dir: Path
) -> None:
    with running_stack(redis_client, redis_url, data_dir) as stack:   # seeded AC: no RFC 5176
        stack.plans.put(GOLD)
        number, ip, _mac = login_through_ac(stack, 3)
        app = _app(stack)
        write = auth(token(redis_client, "write"))
        resp = app.test_client().put(f"/api/v1/users/{number}/plan", json={"plan": "gold"},
                                     headers=write)
        assert resp.status_code == 202, resp.get_json()
        change = finished_job(app, redis_client, resp.get_json()["status_url"])["result"]
        assert [o["outcome"] for o in change["sessions"]] == ["next_login"]
        assert "next login" in change["sessions"][0]["message"]
        assert stack.ac.online()[ip].rates.get("Huawei-Input-Average-Rate") == 2000 * 1000
        noc = signed_in(app, redis_client)
        resp = noc.post("/noc/sessions/kick-phone",
                        data={"phone": number, "csrf_token": csrf(noc, "/noc/sessions")})
        assert "REQ_LOGOUT" in console_job(noc, resp.headers["Location"])
        assert wait_for(lambda: ip not in stack.ac.online(), 5)
        assert stack.ac.stats["dm_received"] == 0
