"""The phone pages over HTTP (Flask test client) through real Redis, RADIUS and the simulator."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.aaa.acs import AcRegistry
from portal.aaa.usage import UsageBook
from portal.web import create_app
from portal.web.errors import ERRORS, user_error
from portal.web.i18n import pick_language
from tests.e2e.stack import AC_NAME, VENUE_URL, Stack, phone, running_stack, stack_app, user, wait_for


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


@pytest.fixture
def app(stack: Stack) -> Flask:
    return stack_app(stack)


def field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no field {name}"
    return m.group(1)


def land(client: FlaskClient, stack: Stack, i: int, lang: str = "zh-CN,zh;q=0.9") -> tuple[str, Any]:
    resp = client.get("/portal?" + stack.query(i), headers={"Accept-Language": lang})
    return resp.get_data(as_text=True), resp


def test_pick_language() -> None:
    assert pick_language("en-US,en;q=0.9,zh;q=0.8") == "en"
    assert pick_language("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert pick_language("fr-FR,en;q=0.5") == "en"
    assert pick_language("fr-FR") == "zh" and pick_language(None) == "zh"
    assert pick_language("en", override="zh") == "zh"
    assert pick_language("zh;q=0.1,en;q=0.2") == "en"


def test_every_error_code_has_both_languages() -> None:
    for code, (zh, en, status) in ERRORS.items():
        assert zh and en and 400 <= status < 600, code
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in en), code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), code
    err = user_error("resend_too_soon", "en", retry_after=42)
    assert err.status == 429 and "42 seconds" in err.message
    assert "还可以再试 3 次" in user_error("wrong_code", "zh", attempts_left=3).message
    assert "Reply text" in user_error("ac_rejected", "en", reply_message="Reply text").message
    assert user_error("???", "en").code == "internal"


def test_first_login_over_http(app: Flask, stack: Stack) -> None:
    client = app.test_client()
    html, resp = land(client, stack, 1)
    assert resp.status_code == 200 and 'autocomplete="one-time-code"' in html
    assert resp.headers["Cache-Control"] == "no-store"
    assert "<WISPAccessGatewayParam" in html and "市图书馆" in html
    assert len(resp.data) < 50_000
    c = field(html, "c")
    resp = client.post("/portal/code", data={"c": c, "phone": phone(1)})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="notice"' in html and 'data-wait="' in html
    resp = client.post("/portal/login", data={"c": c, "phone": phone(1), "code": stack.last_code(phone(1))})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="success"' in html
    assert f'content="1;url={VENUE_URL}"' in html
    status_url = re.search(r'id="status" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(1)))
    page = client.get(status_url).get_data(as_text=True)
    assert 'id="state">在线' in page and "189****0001" in page
    token = re.search(r"s=([^&]+)", status_url).group(1)
    api = client.get(f"/api/captive?s={token}")
    assert api.mimetype == "application/captive+json" and "no-store" in api.headers["Cache-Control"]
    body = json.loads(api.data)
    assert body["captive"] is False and body["venue-info-url"] == VENUE_URL
    assert 0 < body["seconds-remaining"] <= 4 * 3600 and "/portal/status" in body["user-portal-url"]
    # Logout: REQ_LOGOUT on the AC, then the API says captive again.
    resp = client.post("/portal/logout", data={"s": token})
    assert resp.status_code == 200 and "您已下线" in resp.get_data(as_text=True)
    ip = stack.journey.open_session_token(token)[1]
    assert wait_for(lambda: ip not in stack.ac.online())
    assert json.loads(client.get(f"/api/captive?s={token}").data)["captive"] is True


def test_error_messages_on_the_page(app: Flask, stack: Stack) -> None:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US,en;q=0.9"    # as a browser sends on every request
    html, _ = land(client, stack, 2, "en-US,en;q=0.9")
    c = field(html, "c")
    resp = client.post("/portal/code", data={"c": c, "phone": "13800138000"})
    assert resp.status_code == 403 and "not a mobile number of this operator" in resp.get_data(as_text=True)
    resp = client.post("/portal/code", data={"c": c, "phone": ""})
    assert resp.status_code == 400 and "Please enter your mobile number" in resp.get_data(as_text=True)
    client.post("/portal/code", data={"c": c, "phone": phone(2)})
    resp = client.post("/portal/code", data={"c": c, "phone": phone(2)})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 429 and "you can ask for a new one in" in text
    assert 'data-code="resend_too_soon"' in text
    resp = client.post("/portal/login", data={"c": c, "phone": phone(2), "code": "12"})
    assert resp.status_code == 400 and "Wrong code; 4 tries left" in resp.get_data(as_text=True)
    resp = client.post("/portal/login", data={"c": c[:-4] + "AAAA", "phone": phone(2), "code": "1"})
    assert resp.status_code == 400 and "no longer valid" in resp.get_data(as_text=True)
    resp = client.get("/portal?wlanuserip=10.1.1.1&wlanacname=ghost")
    assert resp.status_code == 400 and 'data-code="unknown_ac"' in resp.get_data(as_text=True)
    # /portal alone: this browser's remembered redirect (phone 2) lands on its login page; a
    # browser the portal knows nothing about gets a page that explains the way on — not an error.
    resp = client.get("/portal", headers={"Accept-Language": "en"})
    recalled = field(resp.get_data(as_text=True), "c")
    assert resp.status_code == 200
    assert stack.journey.open_context(recalled).user_ip == stack.journey.open_context(c).user_ip
    resp = app.test_client().get("/portal", headers={"Accept-Language": "en"})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="error"' not in text
    assert "Make sure you are connected to this Wi-Fi" in text and 'href="http://captive.apple.com/"' in text
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    assert client.get("/nope").status_code == 404
    assert client.get("/portal/login").status_code == 405
    # Daily time used: refused before the AC, with the plan's message.
    UsageBook(stack.redis).add(phone(3), 4 * 3600, 0, time.time())
    client = app.test_client()          # another phone is another browser (see tests/security)
    html3, _ = land(client, stack, 3)
    c3 = field(html3, "c")
    client.post("/portal/code", data={"c": c3, "phone": phone(3)})
    resp = client.post("/portal/login", data={"c": c3, "phone": phone(3), "code": stack.last_code(phone(3))})
    assert resp.status_code == 403 and "今日上网时长已用完" in resp.get_data(as_text=True)


def test_returning_phone_over_http(app: Flask, stack: Stack) -> None:
    client = app.test_client()
    html, _ = land(client, stack, 4)
    c = field(html, "c")
    client.post("/portal/code", data={"c": c, "phone": phone(4)})
    client.post("/portal/login", data={"c": c, "phone": phone(4), "code": stack.last_code(phone(4))})
    ip = stack.journey.open_context(c).user_ip
    stack.journey.logout(AC_NAME, ip)
    assert wait_for(lambda: ip not in stack.ac.online())
    html, resp = land(client, stack, 4)
    assert 'id="ad"' in html and 'name="ticket"' in html
    c, ticket = field(html, "c"), field(html, "ticket")
    early = client.post("/portal/continue", data={"c": c, "ticket": ticket})
    assert early.status_code == 429 and 'data-code="too_early"' in early.get_data(as_text=True)
    assert ip not in stack.ac.online()
    stack.clock.advance(2.0)                              # the venue's 2-second ad countdown
    resp = client.post("/portal/continue", data={"c": c, "ticket": ticket})
    assert resp.status_code == 303 and resp.headers["Location"] == VENUE_URL
    assert ip in stack.ac.online()
    again = client.post("/portal/continue", data={"c": c, "ticket": ticket})
    assert again.status_code == 409


def test_probes_and_captive_api_by_source_address(app: Flask, stack: Stack) -> None:
    client = app.test_client()
    for path in ("/generate_204", "/hotspot-detect.html", "/connecttest.txt", "/success.txt"):
        resp = client.get(path, environ_base={"REMOTE_ADDR": "10.99.0.1"})
        assert resp.status_code == 302 and "/portal" in resp.headers["Location"], path
        assert resp.headers["Cache-Control"] == "no-store"
    body = json.loads(client.get("/api/captive", environ_base={"REMOTE_ADDR": "10.99.0.1"}).data)
    assert body == {"captive": True, "user-portal-url": "http://localhost/portal"}
    # Log phone 5 in, then ask from its address.
    ctx = stack.journey.context(stack.query(5))
    stack.journey.request_code(ctx, phone(5))
    stack.journey.login_with_code(ctx, phone(5), stack.last_code(phone(5)))
    env = {"REMOTE_ADDR": ctx.user_ip}
    # The stack's AC has no client-address check (phones behind NAT): a request's address is then
    # not the phone's, and identifies nobody — whoever holds 10.x elsewhere is not this phone.
    assert client.get("/generate_204", environ_base=env).status_code == 302
    assert json.loads(client.get("/api/captive", environ_base=env).data)["captive"] is True
    assert "189****0005" not in client.get("/portal/status", environ_base=env).get_data(as_text=True)
    # With the AC's check on, the observed address is the phone's own: online.
    record = AcRegistry(stack.redis).get(AC_NAME)
    AcRegistry(stack.redis).put(dataclasses.replace(record, client_address_check=True))
    stack.journey._ac_cache.clear()
    assert client.get("/generate_204", environ_base=env).status_code == 204
    apple = client.get("/hotspot-detect.html", environ_base=env)
    assert apple.status_code == 200 and b"<TITLE>Success</TITLE>" in apple.data
    assert client.get("/connecttest.txt", environ_base=env).data == b"Microsoft Connect Test"
    assert client.get("/success.txt", environ_base=env).data == b"success\n"
    assert json.loads(client.get("/api/captive", environ_base=env).data)["captive"] is False


def test_wispr_smart_client_login(app: Flask, stack: Stack) -> None:
    client = app.test_client()
    html, _ = land(client, stack, 6)
    login_url = re.search(r"<LoginURL>([^<]+)</LoginURL>", html).group(1).replace("&amp;", "&")
    c = field(html, "c")
    client.post("/portal/code", data={"c": c, "phone": phone(6)})
    bad = client.post(login_url, data={"UserName": phone(6), "Password": "000000x"})
    assert b"<ResponseCode>100</ResponseCode>" in bad.data
    good = client.post(login_url, data={"UserName": phone(6), "Password": stack.last_code(phone(6))})
    assert b"<ResponseCode>50</ResponseCode>" in good.data and b"<LogoffURL>" in good.data


def test_demo_outbox_only_in_demo_mode(app: Flask, stack: Stack, data_dir: Path) -> None:
    assert app.test_client().get("/demo/outbox").status_code == 404
    import dataclasses

    demo_web = dataclasses.replace(stack.settings.web, demo=True)
    demo_settings = dataclasses.replace(stack.settings, web=demo_web)
    outbox = data_dir / "sms-outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / "1-a.json").write_text(json.dumps({"phone": "18900000001", "text": "您的验证码 <123456>"}))
    demo_app = create_app(demo_settings, stack.redis)
    page = demo_app.test_client().get("/demo/outbox").get_data(as_text=True)
    assert "18900000001" in page and "&lt;123456&gt;" in page


def test_phone_number_field(app: Flask, stack: Stack) -> None:
    """Autofill formats are neither cut nor refused, full-width digits work,
    refusals say which numbers are served, and "1 try left" reads right."""
    def fresh(i: int, lang: str = "en-US") -> tuple[FlaskClient, str]:
        client = app.test_client()                  # every phone its own browser
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
        html, _ = land(client, stack, i, lang)
        return client, html

    client, html = fresh(20)
    maxlength = int(re.search(r'id="phone"[^>]*maxlength="(\d+)"', html).group(1))
    assert maxlength >= 64 > len("+86 189-0000-0020")          # as long as the server accepts
    for i, typed in ((20, "+86 189-0000-0020"), (21, "+86 18900000021"),
                     (22, "".join(chr(ord(d) + 0xFEE0) for d in phone(22)))):   # full-width digits
        client, html = fresh(i)
        resp = client.post("/portal/code", data={"c": field(html, "c"), "phone": typed})
        assert resp.status_code == 200 and f"189****00{i}" in resp.get_data(as_text=True), typed
        assert stack.last_code(phone(i))
    client, html = fresh(23)
    resp = client.post("/portal/code", data={"c": field(html, "c"), "phone": "+1 415 555 0100"})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 403 and 'data-code="not_mainland"' in text
    assert "only serves China Telecom mobile numbers from mainland China" in text
    assert "not a valid" not in text
    client, html = fresh(24, "zh-CN")
    resp = client.post("/portal/code", data={"c": field(html, "c"), "phone": "13800138000"})   # China Mobile
    assert resp.status_code == 403 and "本 Wi-Fi 仅服务中国电信手机号码" in resp.get_data(as_text=True)
    # Wrong codes: 4 tries left … 1 try left (not "1 tries").
    client, html = fresh(25)
    c = field(html, "c")
    client.post("/portal/code", data={"c": c, "phone": phone(25)})
    wrong = "000000" if stack.last_code(phone(25)) != "000000" else "111111"
    texts_seen = [client.post("/portal/login", data={"c": c, "phone": phone(25), "code": wrong})
                  .get_data(as_text=True) for _ in range(4)]
    assert "Wrong code; 4 tries left" in texts_seen[0] and "Wrong code; 1 try left" in texts_seen[3]
    assert not any("1 tries" in t for t in texts_seen)
    assert "还可以再试 1 次" in user_error("wrong_code", "zh", attempts_left=1).message


def test_english_status_and_the_way_back_after_logout(app: Flask, stack: Stack) -> None:
    """The plan in the page's language; after logout a way to log in again and
    a language link (it was a bare "您已下线。未在线")."""
    from portal.aaa.plans import Plan

    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US,en;q=0.9"
    html, _ = land(client, stack, 26, "en-US,en;q=0.9")
    c = field(html, "c")
    client.post("/portal/code", data={"c": c, "phone": phone(26)})
    done = client.post("/portal/login", data={"c": c, "phone": phone(26), "code": stack.last_code(phone(26))})
    page = done.get_data(as_text=True)
    assert "Plan: basic" in page and "基础套餐" not in page        # no English title: its name
    status_url = re.search(r'id="status" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(26)))
    stack.plans.put(Plan(name="basic", title_zh="基础套餐", title_en="Basic plan", up_kbps=2000,
                         down_kbps=8000, daily_time=4 * 3600, max_sessions=2, mac_binding_days=7))
    english = client.get(status_url).get_data(as_text=True)
    assert "<dd>Basic plan</dd>" in english and "基础套餐" not in english
    assert "<dd>基础套餐</dd>" in client.get(status_url.replace("lang=en", "lang=zh")).get_data(as_text=True)

    token = re.search(r"s=([^&]+)", status_url).group(1)
    out = client.post("/portal/logout", data={"s": token, "lang": "en"})
    page = out.get_data(as_text=True)
    assert out.status_code == 200 and "You are logged out." in page and 'id="state">Offline' in page
    login_url = re.search(r'id="login" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    lang_url = re.search(r'id="lang" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert login_url == "/portal?lang=en" and lang_url == "/portal/status?lang=zh"
    assert wait_for(lambda: user(26)[0] not in stack.ac.online())
    again = client.get(login_url).get_data(as_text=True)       # the returning phone's ad page
    assert 'id="ad"' in again and 'name="ticket"' in again
    chinese = client.get(lang_url).get_data(as_text=True)
    assert 'id="state">未在线' in chinese and 'id="login"' in chinese and "重新登录" in chinese
