"""The venue console over HTTP on real Redis: settings, page editor (preview, publish, history,
rollback), assets, audit — and another operator's venue answering 404 on every raw endpoint."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from portal.venues.pages import PageStore
from portal.venues.venue_store import Venue, VenueStore
from portal.web import services
from portal.web.phone.phone_pages import VENUE_PAGE_CSP
from portal.web.venue.venue_console import PREVIEW_CSP
from tests.e2e.stack import AC_NAME, SSID, seed
from tests.portal.venues.pagekit import LOGIN_FORMS, login_page
from tests.portal.venues.test_assets import GOOD
from tests.portal.web.consolekit import create_account, csrf, login, make_app

LIB = Venue(id="lib", name_zh="图书馆", name_en="Library", acs=(AC_NAME,), ssids=(SSID,),
            redirect_hosts=("lib.example.cn",), redirect_url="https://lib.example.cn/")
MALL = Venue(id="mall", name_zh="商场", name_en="Mall", acs=("mall-ac",))


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    seed(redis_client, sim_port=1, venue=LIB)
    VenueStore(redis_client).put(MALL)
    app = make_app(redis_client, data_dir, redirect_hosts=(".operator.example.cn",))
    services(app).journey.venues.cache_ttl = 0.0
    return app


def signed_in(app: Flask, redis: Any, name: str, role: Role = Role.VENUE,
              venues: tuple[str, ...] = ("lib",)) -> tuple[FlaskClient, str]:
    _, password = create_account(redis, name, role, venues)
    client = app.test_client()
    assert login(client, name, password).status_code == 302
    return client, csrf(client, "/venue")


def test_list_shows_only_visible_venues(app: Flask, redis_client: Any) -> None:
    alice, _ = signed_in(app, redis_client, "alice")
    html = alice.get("/venue").get_data(as_text=True)
    assert "/venue/lib" in html and "/venue/mall" not in html and "商场" not in html
    noc, _ = signed_in(app, redis_client, "noc", Role.NOC, ())
    html = noc.get("/venue").get_data(as_text=True)
    assert "/venue/lib" in html and "/venue/mall" in html
    assert app.test_client().get("/venue").status_code == 302          # not signed in → login


OTHER_GETS = ["/venue/mall", "/venue/mall/settings", "/venue/mall/pages/login",
              "/venue/mall/pages/login/preview", "/venue/mall/pages/login/versions/1",
              "/venue/mall/assets", "/venue/nosuch/settings"]
OTHER_POSTS: list[tuple[str, dict[str, Any]]] = [
    ("/venue/mall/settings", {"name_zh": "pwned", "lang_zh": "on"}),
    ("/venue/mall/pages/login", {"source": "<p>pwned</p>", "action": "publish"}),
    ("/venue/mall/pages/login/rollback", {"version": "1"}),
    ("/venue/mall/assets", {}),
    ("/venue/mall/assets/logo.png/delete", {}),
]


def test_another_operators_venue_is_404_on_every_raw_endpoint(app: Flask, redis_client: Any) -> None:
    PageStore(redis_client).publish(MALL, "login", "bob", source=login_page("<p>mall v1</p>"))
    from portal.venues.venue_assets import AssetStore

    AssetStore(redis_client).put("mall", "logo.png", GOOD["logo.png"], "bob")
    alice, token = signed_in(app, redis_client, "alice")
    for path in OTHER_GETS:
        assert alice.get(path).status_code == 404, path
    for path, data in OTHER_POSTS:
        resp = alice.post(path, data={**data, "csrf_token": token})
        assert resp.status_code == 404, path
        assert "商场" not in resp.get_data(as_text=True)
    assert VenueStore(redis_client).get("mall").name_zh == "商场"
    assert PageStore(redis_client).published_source("mall", "login") == login_page("<p>mall v1</p>")
    assert AssetStore(redis_client).get_meta("mall", "logo.png") is not None
    # An operator with no venues, and a wrong-role check on the NOC-only create page.
    assert alice.get("/venue/new").status_code == 403


def test_settings_update_audited_and_redirect_allow_list(app: Flask, redis_client: Any) -> None:
    alice, token = signed_in(app, redis_client, "alice")
    form = {"csrf_token": token, "name_zh": "新图书馆", "name_en": "New Library", "redirect_delay": "2",
            "ad_seconds": "7", "lang_zh": "on", "lang_en": "on", "silent_mac_login": "on",
            "redirect_url": "https://lib.example.cn/welcome",
            "acs": "mall-ac", "ssids": "Stolen"}                       # network fields: not hers
    resp = alice.post("/venue/lib/settings", data=form)
    assert resp.status_code == 302
    venue = VenueStore(redis_client).get("lib")
    assert (venue.name_zh, venue.ad_seconds, venue.redirect_delay) == ("新图书馆", 7, 2)
    assert venue.acs == (AC_NAME,) and venue.ssids == (SSID,)            # ignored for a venue operator
    entry = AuditLog(redis_client).recent(5, area="venue")[0]
    assert entry.action == "venue.update" and entry.actor == "user:alice" and entry.target == "lib"
    assert entry.before["name_zh"] == "图书馆" and entry.after["name_zh"] == "新图书馆"
    for bad in ("https://evil.example.com/", "javascript:alert(1)", "https://lib.example.cn@evil.com/",
                "http://evil.com\\@lib.example.cn/", "//evil.com/"):
        resp = alice.post("/venue/lib/settings", data={**form, "redirect_url": bad})
        assert resp.status_code == 400, bad
        assert "允许列表" in resp.get_data(as_text=True)
    assert VenueStore(redis_client).get("lib").redirect_url == "https://lib.example.cn/welcome"
    ok = alice.post("/venue/lib/settings", data={**form, "redirect_url": "https://a.operator.example.cn/x"})
    assert ok.status_code == 302                                        # operator allow-list counts too
    alice.set_cookie("cw_lang", "en")
    resp = alice.post("/venue/lib/settings", data={**form, "redirect_url": "https://evil.example.com/"})
    assert "allow-list" in resp.get_data(as_text=True)
    bad_number = alice.post("/venue/lib/settings", data={**form, "ad_seconds": "999"})
    assert bad_number.status_code == 400


def test_noc_changes_network_fields(app: Flask, redis_client: Any) -> None:
    noc, token = signed_in(app, redis_client, "noc", Role.NOC, ())
    form = {"csrf_token": token, "name_zh": "图书馆", "lang_zh": "on", "ad_seconds": "10",
            "redirect_delay": "3", "acs": "sim-ac, ac-2", "ssids": "CityWiFi", "ap_macs": "00:11:22:33:44:55",
            "default_plan": "basic", "redirect_hosts": "lib.example.cn, .lib.example.cn",
            "redirect_url": "https://www.lib.example.cn/"}
    assert noc.post("/venue/lib/settings", data=form).status_code == 302
    venue = VenueStore(redis_client).get("lib")
    assert venue.acs == ("sim-ac", "ac-2") and venue.default_plan == "basic" and len(venue.ap_macs) == 1
    unknown_plan = noc.post("/venue/lib/settings", data={**form, "default_plan": "nosuch"})
    assert unknown_plan.status_code == 400
    created = noc.post("/venue/new", data={"csrf_token": token, "id": "park", "name_zh": "公园"})
    assert created.status_code == 302 and VenueStore(redis_client).get("park").name_zh == "公园"
    assert noc.post("/venue/new", data={"csrf_token": token, "id": "../x"}).status_code == 400


def test_edit_preview_publish_history_rollback_and_phone_sees_it(app: Flask, redis_client: Any) -> None:
    alice, token = signed_in(app, redis_client, "alice")
    editor = alice.get("/venue/lib/pages/login")
    assert editor.status_code == 200 and "{{ venue.name" in editor.get_data(as_text=True)   # default source
    source = ('{% extends "default/base.html" %}{% block body %}<h1 id="v1">欢迎 {{ venue.name }}</h1>'
              + LOGIN_FORMS + '{% endblock %}')
    assert alice.post("/venue/lib/pages/login", data={"csrf_token": token, "source": source,
                                                      "action": "preview"}).status_code == 302
    preview = alice.get("/venue/lib/pages/login/preview?lang=zh")
    assert preview.status_code == 200 and '<h1 id="v1">欢迎 图书馆</h1>' in preview.get_data(as_text=True)
    assert preview.headers["Content-Security-Policy"] == PREVIEW_CSP
    assert preview.headers["X-Preview-Source"] == "venue"
    assert 'sandbox="allow-scripts"' in alice.get("/venue/lib/pages/login").get_data(as_text=True)
    assert "Library" in alice.get("/venue/lib/pages/login/preview?lang=en").get_data(as_text=True)
    # Not live yet: the phone still gets the default page.
    assert 'id="v1"' not in phone_login_page(app)
    # (the default page is not sandboxed; like every phone page it may not be framed)
    assert app.test_client().get(f"/portal?{PHONE_QUERY}").headers["Content-Security-Policy"] == \
        "frame-ancestors 'none'"
    resp = alice.post("/venue/lib/pages/login", data={"csrf_token": token, "source": source,
                                                      "action": "publish", "note": "spring"})
    assert resp.status_code == 302
    assert '<h1 id="v1">' in phone_login_page(app)
    live = app.test_client().get(f"/portal?{PHONE_QUERY}")
    assert live.headers["Content-Security-Policy"].startswith(VENUE_PAGE_CSP.split(";")[0] + ";")
    v2 = source.replace('id="v1"', 'id="v2"')
    alice.post("/venue/lib/pages/login", data={"csrf_token": token, "source": v2, "action": "publish"})
    assert '<h1 id="v2">' in phone_login_page(app)
    html = alice.get("/venue/lib/pages/login").get_data(as_text=True)
    assert "v2" in html and "spring" in html and 'id="rollback-1"' in html
    back = alice.post("/venue/lib/pages/login/rollback", data={"csrf_token": token, "version": "1"})
    assert back.status_code == 302
    assert '<h1 id="v1">' in phone_login_page(app)
    assert [v.version for v in PageStore(redis_client).history("lib", "login")] == [3, 2, 1]
    assert alice.get("/venue/lib/pages/login/versions/2").status_code == 200
    assert alice.get("/venue/lib/pages/login/versions/9").status_code == 404
    actions = [e.action for e in AuditLog(redis_client).recent(20, area="venue", actor="user:alice")]
    assert actions.count("page.publish") == 2 and "page.rollback" in actions
    assert "page.draft" not in actions      # drafts are never served: not audited (DRAFT_NOT_AUDITED)


PHONE_QUERY = f"wlanacname={AC_NAME}&wlanuserip=10.0.0.9&wlanusermac=02-00-00-00-00-09&ssid={SSID}"


def phone_login_page(app: Flask) -> str:
    resp = app.test_client().get(f"/portal?{PHONE_QUERY}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp.get_data(as_text=True)


def test_publish_refuses_bad_template_with_line_shown(app: Flask, redis_client: Any) -> None:
    alice, token = signed_in(app, redis_client, "alice")
    bad = "<h1>ok</h1>\n<p>{{ venue.name }</p>\n"
    form = {"csrf_token": token, "source": bad, "action": "publish"}
    resp = alice.post("/venue/lib/pages/login", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "第 2 行" in html and 'data-line="2"' in html
    assert PageStore(redis_client).published_source("lib", "login") is None
    assert "{{ venue.name }&lt;/p&gt;" in html                        # the draft is kept in the editor
    alice.set_cookie("cw_lang", "en")
    resp = alice.post("/venue/lib/pages/login", data=form)
    assert "line 2" in resp.get_data(as_text=True)


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ urls.__class__.__init__.__globals__ }}",
    "{{ config }}{{ config.SECRET_KEY }}{{ request.environ }}{{ settings.web.secret_key }}",
    "{% include '/etc/passwd' %}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{{ 'x' * 100000000 }}",
    "{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}",
    "{% for i in range(20000) %}{% for j in range(20000) %}{% endfor %}{% endfor %}",
])
def test_template_injection_blocked_and_preview_falls_back(app: Flask, redis_client: Any,
                                                          source: str) -> None:
    alice, token = signed_in(app, redis_client, "alice")
    form = {"csrf_token": token, "source": source, "action": "publish"}
    resp = alice.post("/venue/lib/pages/login", data=form)
    assert resp.status_code == 400
    assert PageStore(redis_client).published_source("lib", "login") is None
    preview = alice.get("/venue/lib/pages/login/preview")            # the saved (hostile) draft
    body = preview.get_data(as_text=True)
    assert preview.headers["X-Preview-Source"] == "default" and 'name="phone"' in body
    assert "console-test-secret" not in body and "root:" not in body
    # Even if such a source reaches Redis directly, phones get the default page and it is counted.
    PageStore(redis_client)._store("lib", "login", source, "x", "")
    page = phone_login_page(app)
    assert 'name="phone"' in page and "console-test-secret" not in page
    assert PageStore(redis_client).fallbacks("lib")["login"]["count"] >= 1


SCRIPT = '<script>alert("xss")</script>'


def test_script_injection_in_every_text_field_is_escaped(app: Flask, redis_client: Any) -> None:
    noc, token = signed_in(app, redis_client, f"noc{'x'}", Role.NOC, ())
    form = {"csrf_token": token, "name_zh": SCRIPT, "name_en": SCRIPT + '"><img src=x onerror=alert(1)>',
            "lang_zh": "on", "ad_seconds": "5", "redirect_delay": "1", "acs": SCRIPT, "ssids": SCRIPT,
            "default_plan": "", "redirect_hosts": "lib.example.cn",
            "redirect_url": 'https://lib.example.cn/?q="><script>alert(1)</script>'}
    assert noc.post("/venue/lib/settings", data=form).status_code == 302
    src = login_page(f"</textarea>{SCRIPT}<p>{{{{ venue.name }}}}</p>")
    noc.post("/venue/lib/pages/login", data={"csrf_token": token, "source": src, "action": "publish",
                                             "note": SCRIPT})
    noc.post("/venue/lib/pages/success", data={"csrf_token": token, "source": "{% if %}" + SCRIPT,
                                               "action": "publish"})
    for path in ("/venue", "/venue/lib", "/venue/lib/settings", "/venue/lib/pages/login",
                 "/venue/lib/pages/login/versions/1", "/venue/lib/pages/success", "/venue/lib/assets"):
        html = noc.get(path).get_data(as_text=True)
        assert SCRIPT not in html and "<img src=x" not in html and "<script>alert(1)" not in html, path
    assert "&lt;script&gt;" in noc.get("/venue/lib/settings").get_data(as_text=True)
    assert "&lt;/textarea&gt;" in noc.get("/venue/lib/pages/login").get_data(as_text=True)


def test_forms_without_csrf_are_refused(app: Flask, redis_client: Any) -> None:
    alice, _ = signed_in(app, redis_client, "alice")
    posts = [("/venue/lib/settings", {"name_zh": "x", "lang_zh": "on"}),
             ("/venue/lib/pages/login", {"source": "<p>x</p>", "action": "publish"}),
             ("/venue/lib/pages/login/rollback", {"version": "1"}),
             ("/venue/lib/assets/logo.png/delete", {})]
    for path, data in posts:
        assert alice.post(path, data=data).status_code == 400, path
        assert alice.post(path, data={**data, "csrf_token": "forged"}).status_code == 400, path
    from io import BytesIO

    resp = alice.post("/venue/lib/assets", data={"file": (BytesIO(GOOD["logo.png"]), "logo.png")},
                      content_type="multipart/form-data")
    assert resp.status_code == 400
    assert VenueStore(redis_client).get("lib").name_zh == "图书馆"
    assert PageStore(redis_client).published_source("lib", "login") is None


def test_assets_upload_list_delete_and_refusals(app: Flask, redis_client: Any) -> None:
    from io import BytesIO

    alice, token = signed_in(app, redis_client, "alice")

    def upload(name: str, data: bytes) -> Any:
        return alice.post("/venue/lib/assets", data={"csrf_token": token, "file": (BytesIO(data), name)},
                          content_type="multipart/form-data")

    assert upload("logo.png", GOOD["logo.png"]).status_code == 302
    assert upload("site.css", GOOD["site.css"]).status_code == 302
    html = alice.get("/venue/lib/assets").get_data(as_text=True)
    assert "/assets/lib/logo.png?v=" in html and "site.css" in html
    assert app.test_client().get("/assets/lib/logo.png").data == GOOD["logo.png"]   # phones: no sign-in
    for name, data in (("../../etc/passwd.png", GOOD["logo.png"]), ("..\\x.png", GOOD["logo.png"]),
                       ("evil.png", b"<script>alert(1)</script>"), ("x.html", b"<p>"),
                       ("big.png", GOOD["logo.png"] + b"\x00" * (600 * 1024))):
        resp = upload(name, data)
        assert resp.status_code in (400, 413), name
    assert [a.name for a in services(app).assets.all("lib")] == ["logo.png", "site.css"]
    assert alice.post("/venue/lib/assets/logo.png/delete", data={"csrf_token": token}).status_code == 302
    assert app.test_client().get("/assets/lib/logo.png").status_code == 404
    assert alice.post("/venue/lib/assets/nope.png/delete", data={"csrf_token": token}).status_code == 404
    actions = [e.action for e in AuditLog(redis_client).recent(10, area="venue")]
    assert "asset.upload" in actions and "asset.delete" in actions


def test_published_page_uses_assets(app: Flask, redis_client: Any) -> None:
    from io import BytesIO

    alice, token = signed_in(app, redis_client, "alice")
    alice.post("/venue/lib/assets", content_type="multipart/form-data",
               data={"csrf_token": token, "file": (BytesIO(GOOD["logo.png"]), "logo.png")})
    src = login_page('<img id="logo" src="{{ assets["logo.png"] }}">'
                     '<link rel="stylesheet" href="{{ asset_base }}site.css">')
    assert alice.post("/venue/lib/pages/login", data={"csrf_token": token, "source": src,
                                                      "action": "publish"}).status_code == 302
    page = phone_login_page(app)
    url = re.search(r'id="logo" src="([^"]+)"', page)
    assert url and url.group(1).startswith("/assets/lib/logo.png?v=")
    assert app.test_client().get(url.group(1).replace("&amp;", "&")).status_code == 200


def test_a_page_phones_cannot_use_is_refused_and_the_preview_says_why(app: Flask, redis_client: Any) -> None:
    alice, token = signed_in(app, redis_client, "alice")
    bare = "<h1 id=mine>{{ venue.name }}</h1>"
    alice.post("/venue/lib/pages/login", data={"csrf_token": token, "source": bare, "action": "save"})
    preview = alice.get("/venue/lib/pages/login/preview")
    html = preview.get_data(as_text=True)
    assert preview.headers["X-Preview-Source"] == "venue" and "<h1 id=mine>" in html
    assert preview.headers["X-Preview-Problem"] == "missing-forms:code,login"
    banner = html[html.index('id="preview-problem"'):]
    assert "获取验证码的表单" in banner and "登录表单" in banner and "the login form" in banner
    assert "/portal/login" in banner
    editor = alice.get("/venue/lib/pages/login").get_data(as_text=True)
    assert 'id="problem"' in editor and "缺少必需的表单" in editor
    publish = {"csrf_token": token, "source": bare, "action": "publish"}
    refused = alice.post("/venue/lib/pages/login", data=publish)
    assert refused.status_code == 400 and "登录表单" in refused.get_data(as_text=True)
    alice.set_cookie("cw_lang", "en")
    refused = alice.post("/venue/lib/pages/login", data=publish)
    assert "a required form is missing" in refused.get_data(as_text=True)
    assert "phones at this venue cannot get online" in refused.get_data(as_text=True)
    assert PageStore(redis_client).published_source("lib", "login") is None
    # The ad page needs its continue form.
    ad = "<p>{{ ad.title }}</p>"
    resp = alice.post("/venue/lib/pages/ad", data={"csrf_token": token, "source": ad, "action": "publish"})
    assert resp.status_code == 400 and "the continue form" in resp.get_data(as_text=True)
    assert alice.get("/venue/lib/pages/ad/preview").headers["X-Preview-Problem"] == "missing-forms:continue"
    # With the forms: no banner, and it publishes.
    good = login_page(bare)
    alice.post("/venue/lib/pages/login", data={"csrf_token": token, "source": good, "action": "save"})
    preview = alice.get("/venue/lib/pages/login/preview")
    assert "X-Preview-Problem" not in preview.headers
    assert 'id="preview-problem"' not in preview.get_data(as_text=True)
    ok = alice.post("/venue/lib/pages/login", data={"csrf_token": token, "source": good, "action": "publish"})
    assert ok.status_code == 302 and PageStore(redis_client).published_source("lib", "login") == good


@pytest.mark.parametrize(("wrap", "why"), [
    ("<div hidden>{}</div>", "<div hidden>"),
    ('<section class="x" style="color:red; display: none !important">{}</section>',
     '<section style="display:none">'),
    ('<div style="visibility:hidden"><p>{}</p></div>', '<div style="visibility:hidden">'),
    ("<template>{}</template>", "<template>"),
    ("<noscript>{}</noscript>", "<noscript>"),
    ("{}", '<form style="display:none">'),
    ("{}", "<input hidden>"),
])
def test_a_page_whose_forms_phones_cannot_see_is_refused_with_the_reason(
        app: Flask, redis_client: Any, wrap: str, why: str) -> None:
    from tests.portal.venues.pagekit import LOGIN_FORMS

    forms = LOGIN_FORMS
    if why.startswith("<form"):
        forms = forms.replace("<form ", '<form style="display:none" ', 1)
    elif why == "<input hidden>":
        forms = forms.replace('<input name="code">', '<input name="code" hidden>')
    source = "<h1>{{ venue.name }}</h1>" + wrap.format(forms)
    alice, token = signed_in(app, redis_client, "alice")
    alice.post("/venue/lib/pages/login", data={"csrf_token": token, "source": source, "action": "save"})
    preview = alice.get("/venue/lib/pages/login/preview")
    banner = unescape(preview.get_data(as_text=True).split('id="preview-problem"', 1)[1])
    assert preview.headers["X-Preview-Problem"].startswith("missing-forms:")
    assert "登录表单" in banner and why in banner and "隐藏" in banner
    assert "where phones can see it" in banner
    refused = alice.post("/venue/lib/pages/login", data={"csrf_token": token, "source": source,
                                                         "action": "publish"})
    text = unescape(refused.get_data(as_text=True))
    assert refused.status_code == 400 and why in text and "隐藏" in text
    assert PageStore(redis_client).published_source("lib", "login") is None
    # Shown again, the same forms publish.
    visible = "<h1>{{ venue.name }}</h1>" + LOGIN_FORMS
    ok = alice.post("/venue/lib/pages/login",
                    data={"csrf_token": token, "source": visible, "action": "publish"})
    assert ok.status_code == 302


def test_forms_that_only_look_hidden_still_publish(app: Flask, redis_client: Any) -> None:
    from tests.portal.venues.pagekit import LOGIN_FORMS

    alice, token = signed_in(app, redis_client, "alice")
    for source in ('<div hidden style="display:block">' + LOGIN_FORMS + "</div>",     # style beats [hidden]
                   '<div style="visibility:hidden"><div style="visibility:visible">'
                   + LOGIN_FORMS + "</div></div>",
                   "<p hidden>promo</p><template><b>x</b></template>" + LOGIN_FORMS,   # hidden siblings
                   '<img hidden src="data:,"><br hidden/>' + LOGIN_FORMS):
        resp = alice.post("/venue/lib/pages/login", data={"csrf_token": token, "source": source,
                                                          "action": "publish"})
        assert resp.status_code == 302, (source, resp.get_data(as_text=True)[:3000])


def test_rollback_to_a_version_todays_rules_refuse_is_refused(app: Flask, redis_client: Any) -> None:
    pages = PageStore(redis_client)
    pages._store("lib", "login", "<p>kept from an older release, no forms</p>", "old", "")   # v1
    pages.publish(LIB, "login", "bob", source=login_page("<p>v2</p>"))
    alice, token = signed_in(app, redis_client, "alice")
    resp = alice.post("/venue/lib/pages/login/rollback", data={"csrf_token": token, "version": "1"})
    assert resp.status_code == 302
    assert "缺少必需的表单" in alice.get(resp.headers["Location"]).get_data(as_text=True)
    from tests.portal.web.api.apikit import auth
    from tests.portal.web.api.apikit import token as api_token

    api = app.test_client().post("/api/v1/venues/lib/pages/login/rollback", json={"version": 1},
                                 headers=auth(api_token(redis_client, "write")))
    assert api.status_code == 400 and api.get_json()["error"]["code"] == "page_refused"
    assert pages.published_source("lib", "login") == login_page("<p>v2</p>")
    assert [v.version for v in pages.history("lib", "login")] == [2, 1]
