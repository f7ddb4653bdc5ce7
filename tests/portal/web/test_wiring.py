"""The web services are wired in one place (portal/web/wiring.py) and the app uses that set."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
import redis

from portal.phone.login import LoginError, build_journey
from portal.web import build_services, create_app, services
from portal.web.noc.noc_jobs import job_runner
from portal.web.noc.noc_plans import plan_store
from portal.web.ops import WebOps
from tests.portal.web.consolekit import make_settings
from tests.portal.web.noc.nockit import signed_in


def test_the_app_serves_from_the_service_set_it_is_given(redis_client: Any, data_dir: Path) -> None:
    wired = build_services(make_settings(data_dir), redis_client)
    app = create_app(wired)
    assert services(app) is wired
    assert app.test_client().get("/readyz").status_code == 200
    # The same set with readiness checked against a Redis nobody listens on: /readyz follows it.
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, socket_timeout=0.5)
    broken = create_app(dataclasses.replace(wired, ops=WebOps(dead, wired.livestats)))
    assert broken.test_client().get("/readyz").status_code == 503


def test_a_service_set_brings_its_own_redis(redis_client: Any, data_dir: Path) -> None:
    wired = build_services(make_settings(data_dir), redis_client)
    with pytest.raises(TypeError):
        create_app(wired, redis_client)


def test_a_given_journey_signs_the_device_cookies_and_remembered_redirects(redis_client: Any,
                                                                          data_dir: Path) -> None:
    settings = make_settings(data_dir)
    other = dataclasses.replace(settings, web=dataclasses.replace(settings.web, secret_key="another-key"))
    journey = build_journey(other, redis_client)
    wired = build_services(settings, redis_client, journey=journey)
    assert wired.journey is journey
    assert wired.device_guard.signer is journey.signer
    assert wired.redirect_memory.signer is journey.signer
    # What the guard signs verifies with the given journey's key only.
    token = wired.device_guard.signer.sign("num", {"p": "13800138000"}, 60)
    assert journey.signer.verify("num", token)["p"] == "13800138000"
    with pytest.raises(LoginError):
        build_journey(settings, redis_client).signer.verify("num", token)


def test_pages_add_no_extension_keys_of_their_own(redis_client: Any, data_dir: Path) -> None:
    app = create_app(make_settings(data_dir), redis_client)
    app.config["TESTING"] = True
    client = signed_in(app, redis_client)
    for path in ("/noc", "/noc/sessions", "/noc/users?phone=13800138000", "/noc/logs", "/noc/plans",
                 "/noc/tokens", "/reports",
                 "/portal?userip=10.0.0.9&usermac=00:11:22:33:44:55&nasip=10.0.0.1"):
        assert client.get(path).status_code < 500, path
    assert [k for k in app.extensions if k.startswith("citywifi")] == ["citywifi"]


def test_plan_stores_are_shared_uncached_by_the_console_cached_by_the_search(redis_client: Any,
                                                                     data_dir: Path) -> None:
    wired = build_services(make_settings(data_dir), redis_client)
    assert wired.noc_actions.plans is wired.plans
    assert wired.users.plans is wired.plans
    assert wired.noc_actions.usage is wired.users.usage is wired.usage
    assert wired.plans.cache_ttl == 0.0          # the console reads what it just wrote
    # The session search reads plans as the grant decision does (the journey's cached store).
    assert wired.session_query.plans is wired.journey.plans
    with create_app(wired).app_context():
        assert plan_store() is wired.plans


def test_the_job_runner_is_one_per_process_and_rebuilt_after_a_fork(redis_client: Any,
                                                                    data_dir: Path) -> None:
    app = create_app(build_services(make_settings(data_dir), redis_client))
    with app.app_context():
        runner = job_runner()
        assert job_runner() is runner and runner.pid == os.getpid()
        # A real fork: the child must not use the parent's runner (its threads stayed behind).
        # It reports by exit status: 0 = a new runner of its own.
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            status = 3
            try:
                mine = job_runner()
                status = 0 if mine is not runner and mine.pid == os.getpid() else 1
            finally:
                os._exit(status)
        _, wait_status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(wait_status) == 0
        assert job_runner() is runner
