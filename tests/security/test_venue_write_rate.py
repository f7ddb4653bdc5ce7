"""One signed-in venue account must not be able to make the server store without bound.

Every draft save wrote an audit entry (~190 B, kept 7 days in Redis): 2,820 saves in 15 s from
one venue account added 504 KB, and nothing limited the rate. Now drafts are not audited (they
are never served; publishes and rollbacks are), and every save of venue content — draft,
publish, rollback, campaign, upload, venue settings — counts against the account's write rate
(``[content] writes_per_minute`` / ``writes_per_hour``), shared by its API tokens, with a 429
in Chinese and English beyond it. Deleting is never limited. Real app, real Redis.
"""

from __future__ import annotations

import dataclasses
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from portal.venues.pages import PageStore
from portal.venues.venue_assets import AssetStore
from portal.venues.venue_store import Venue, VenueStore
from portal.web import create_app, services
from tests.portal.venues.test_assets import GOOD
from tests.portal.web.api.apikit import OWNER, auth, token
from tests.portal.web.consolekit import create_account, csrf, login, make_settings

PER_MINUTE = 12
LIB = Venue(id="lib", name_zh="图书馆", name_en="Library")


def _app(redis: Any, data_dir: Path, **content: Any) -> Flask:
    settings = make_settings(data_dir)
    settings = dataclasses.replace(settings, content=dataclasses.replace(settings.content, **content))
    app = create_app(settings, redis)
    app.config["TESTING"] = True
    VenueStore(redis).put(LIB)
    services(app).journey.venues.cache_ttl = 0.0
    # The limits count per calendar minute and hour: a test run crossing a minute boundary
    # would start a new window halfway, so the tests' writes all fall in one fixed second.
    frozen = (time.time() // 3600) * 3600 + 1800.0
    services(app).content_writes.clock = lambda: frozen
    return app


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return _app(redis_client, data_dir, writes_per_minute=PER_MINUTE, writes_per_hour=1000)


def _operator(app: Flask, redis: Any, name: str = "vop") -> tuple[FlaskClient, str]:
    _, password = create_account(redis, name, Role.VENUE, ("lib",))
    client = app.test_client()
    assert login(client, name, password).status_code == 302
    return client, csrf(client, "/venue/lib/pages/error")


def _save(client: FlaskClient, tok: str, i: int) -> Any:
    return client.post("/venue/lib/pages/error", data={"csrf_token": tok, "source": f"<p>{i}</p>",
                                                       "note": "n" * 200, "action": "save"})


def _held(redis: Any) -> int:
    return sum(int(redis.memory_usage(k, samples=0) or 0) for k in redis.scan_iter(count=1000))


def test_a_draft_flood_is_refused_and_stores_a_fixed_amount(app: Flask, redis_client: Any) -> None:
    client, tok = _operator(app, redis_client)
    assert _save(client, tok, 0).status_code == 302                   # the draft exists
    audit_before, held_before = redis_client.xlen("cw:{audit}:log"), _held(redis_client)
    statuses = [_save(client, tok, i).status_code for i in range(1, 300)]
    assert statuses[:PER_MINUTE - 1] == [302] * (PER_MINUTE - 1)
    assert set(statuses[PER_MINUTE - 1:]) == {429}
    assert redis_client.xlen("cw:{audit}:log") == audit_before          # drafts are not audited
    grown = _held(redis_client) - held_before
    print(f"299 draft saves stored {grown} bytes")
    assert grown < 1024, f"{grown} bytes"                # the account's two rate counters
    assert PageStore(redis_client).state("lib", "error").draft == f"<p>{PER_MINUTE - 1}</p>"


def test_the_refusal_says_why_in_chinese_and_english(app: Flask, redis_client: Any) -> None:
    client, tok = _operator(app, redis_client)
    for i in range(PER_MINUTE):
        assert _save(client, tok, i).status_code == 302
    refused = _save(client, tok, 99)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert f"每分钟最多保存 {PER_MINUTE} 次" in refused.get_data(as_text=True)
    client.set_cookie("cw_lang", "en")
    english = _save(client, tok, 100).get_data(as_text=True)
    assert f"at most {PER_MINUTE} times per minute" in english
    # Every kind of content save is counted, not only drafts.
    upload = client.post("/venue/lib/assets", content_type="multipart/form-data",
                         data={"csrf_token": tok, "file": (BytesIO(GOOD["logo.png"]), "logo.png")})
    assert upload.status_code == 429 and not AssetStore(redis_client, app_settings(app).pages).all("lib")
    campaign = client.post("/venue/campaigns/new", data={"csrf_token": tok, "name": "x", "kind": "image",
                                                         "image": "/assets/lib/logo.png", "venues": ["lib"]})
    assert campaign.status_code == 429


def test_deleting_still_works_and_other_accounts_are_not_affected(app: Flask, redis_client: Any) -> None:
    client, tok = _operator(app, redis_client)
    AssetStore(redis_client, app_settings(app).pages).put("lib", "logo.png", GOOD["logo.png"], "vop")
    while _save(client, tok, 1).status_code == 302:
        pass
    deleted = client.post("/venue/lib/assets/logo.png/delete", data={"csrf_token": tok})
    assert deleted.status_code == 302
    assert not AssetStore(redis_client, app_settings(app).pages).all("lib")
    other, other_tok = _operator(app, redis_client, "vop2")
    assert _save(other, other_tok, 7).status_code == 302


def test_api_tokens_share_their_creators_budget(app: Flask, redis_client: Any) -> None:
    write = auth(token(redis_client, "write"))          # created by the OWNER administrator
    api = app.test_client()
    for i in range(PER_MINUTE):
        resp = api.put("/api/v1/venues/lib/pages/error/draft", json={"source": f"<p>{i}</p>"}, headers=write)
        assert resp.status_code == 200
    refused = api.put("/api/v1/venues/lib/pages/error/draft", json={"source": "<p>x</p>"}, headers=write)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited"
    assert "per minute" in error["message"] and "每分钟" in error["message_zh"]
    # The same account in the console is over the same limit.
    console = app.test_client()
    assert login(console, OWNER, "Provisioning-key-4242").status_code == 302
    assert _save(console, csrf(console, "/venue/lib/pages/error"), 1).status_code == 429
    assert api.delete("/api/v1/venues/lib/assets/none.png", headers=write).status_code == 404   # not 429
    documented = app.test_client().get("/api/v1/openapi.json").get_json()
    assert "429" in documented["paths"]["/venues/{venue_id}/pages/{page}/draft"]["put"]["responses"]


def test_the_hourly_limit(redis_client: Any, data_dir: Path) -> None:
    app = _app(redis_client, data_dir, writes_per_minute=0, writes_per_hour=5)
    client, tok = _operator(app, redis_client)
    assert [_save(client, tok, i).status_code for i in range(7)] == [302] * 5 + [429] * 2
    assert "每小时最多保存 5 次" in _save(client, tok, 9).get_data(as_text=True)


def test_publishes_are_still_audited(app: Flask, redis_client: Any) -> None:
    from tests.portal.venues.pagekit import login_page

    client, tok = _operator(app, redis_client)
    resp = client.post("/venue/lib/pages/login", data={"csrf_token": tok, "source": login_page("<p>v1</p>"),
                                                       "action": "publish"})
    assert resp.status_code == 302
    actions = [e.action for e in AuditLog(redis_client).recent(20, actor="user:vop")]
    assert actions.count("page.publish") == 1 and "page.draft" not in actions


def app_settings(app: Flask) -> Any:
    return services(app).settings
