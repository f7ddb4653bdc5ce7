"""Venue operator console checks that the feature suites leave open:
every console change handler writes an audit entry (a new handler without a case here fails),
page drafts are kept but not audited (publishes are), operator fields (silent MAC login,
languages) are editable, script injection in campaign fields / accounts / the audit log is escaped, a console
session opens nothing in the bearer-token API, and the template reference is in the editor."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ad_pages.campaigns import Campaign, Creative
from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from portal.venues.campaign_store import CampaignStore
from portal.venues.page_help_texts import VARIABLES, variables_for
from portal.venues.pages import PAGES, PageStore, build_context, sample_values
from portal.venues.venue_store import Venue, VenueStore
from portal.web import services
from tests.portal.venues.pagekit import login_page
from tests.portal.venues.test_assets import GOOD
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import create_account, csrf, login, make_app

LIB = Venue(id="lib", name_zh="图书馆", name_en="Library", acs=("lib-ac",), ssids=("LibWiFi",),
            redirect_hosts=("lib.example.cn", "shop.example.cn"))
MALL = Venue(id="mall", name_zh="商场", name_en="Mall", acs=("mall-ac",))
SCRIPT = '<script>alert("x6")</script>'
IMG = "/assets/lib/logo.png?v=1"


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    VenueStore(redis_client).put(LIB)
    VenueStore(redis_client).put(MALL)
    app = make_app(redis_client, data_dir)
    services(app).journey.venues.cache_ttl = 0.0
    return app


def signed_in(app: Flask, redis: Any, name: str, role: Role = Role.VENUE,
              venues: tuple[str, ...] = ("lib",)) -> tuple[FlaskClient, str, str]:
    _, password = create_account(redis, name, role, venues)
    client = app.test_client()
    assert login(client, name, password).status_code == 302
    return client, csrf(client, "/account/password"), password


def campaign_form(token: str, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"csrf_token": token, "name": "春季", "kind": "image", "image": IMG,
                            "click_url": "https://shop.example.cn/", "title": "t", "venues": ["lib"],
                            "weight": "1", "priority": "0", "frequency_cap": "0", "enabled": "on",
                            "hours": "", "start": "", "end": "", "ssids": ""}
    data.update(kw)
    return data


# --- every change is audited ------------------------------------------------------------------------

def test_every_console_change_handler_writes_an_audit_entry(app: Flask, redis_client: Any) -> None:
    admin, tok, admin_pw = signed_in(app, redis_client, "root", Role.ADMIN, ())
    campaigns = CampaignStore(redis_client)
    PageStore(redis_client).publish(LIB, "login", "seed", source=login_page("<p>v1</p>"))

    def upload(c: FlaskClient) -> Any:
        return c.post("/venue/lib/assets", content_type="multipart/form-data",
                      data={"csrf_token": tok, "file": (BytesIO(GOOD["logo.png"]), "logo.png")})

    def new_campaign(c: FlaskClient) -> Any:
        return c.post("/venue/campaigns/new", data=campaign_form(tok))

    def first_campaign() -> str:
        return campaigns.all()[0].id

    # endpoint → (the request, the audit action it must leave)
    cases: dict[str, tuple[Callable[[FlaskClient], Any], str]] = {
        "venue_console.create": (lambda c: c.post("/venue/new", data={"csrf_token": tok, "id": "park",
                                                                      "name_zh": "公园"}), "venue.create"),
        "venue_console.settings": (lambda c: c.post("/venue/lib/settings", data={
            "csrf_token": tok, "name_zh": "新馆", "lang_zh": "on", "ad_seconds": "5", "redirect_delay": "1",
            "acs": "lib-ac", "ssids": "LibWiFi", "redirect_hosts": "lib.example.cn, shop.example.cn"}),
            "venue.update"),
        "venue_console.page_save": (lambda c: c.post("/venue/lib/pages/login", data={
            "csrf_token": tok, "source": login_page("<p>v2</p>"), "action": "publish"}), "page.publish"),
        "venue_console.page_rollback": (lambda c: c.post("/venue/lib/pages/login/rollback", data={
            "csrf_token": tok, "version": "1"}), "page.rollback"),
        "venue_console.page_restore_default": (
            lambda c: c.post("/venue/lib/pages/login/restore-default", data={"csrf_token": tok}),
            "page.restore_default"),
        "venue_console.assets": (upload, "asset.upload"),
        "venue_console.asset_delete": (lambda c: c.post("/venue/lib/assets/logo.png/delete",
                                                        data={"csrf_token": tok}), "asset.delete"),
        "venue_campaigns.create": (new_campaign, "campaign.create"),
        "venue_campaigns.edit": (lambda c: c.post(f"/venue/campaigns/{first_campaign()}/edit",
                                                  data=campaign_form(tok, name="夏季")), "campaign.update"),
        "venue_campaigns.set_enabled": (lambda c: c.post(f"/venue/campaigns/{first_campaign()}/enabled",
                                                         data={"csrf_token": tok, "enabled": "0"}),
                                        "campaign.update"),
        "venue_campaigns.delete": (lambda c: c.post(f"/venue/campaigns/{first_campaign()}/delete",
                                                    data={"csrf_token": tok}), "campaign.delete"),
        "console.users": (lambda c: c.post("/admin/users", data={
            "csrf_token": tok, "username": "bob", "password": "a-Long-pass-9", "role": "venue",
            "venues": "mall", "display_name": "Bob"}), "account.create"),
        "console.user_edit": (lambda c: c.post("/admin/users/bob", data={
            "csrf_token": tok, "role": "venue", "venues": "mall, lib", "display_name": "Bob B"}),
            "account.update"),
        "console.password": (lambda c: c.post("/account/password", data={
            "csrf_token": tok, "old_password": admin_pw, "new_password": "New-pass-1234",
            "confirm_password": "New-pass-1234"}), "password.change"),
        "console.logout": (lambda c: c.post("/logout", data={"csrf_token": tok}), "logout"),
    }
    # Sign-in itself is audited too (login / login.failed / login.locked): checked below.
    posts = {r.endpoint for r in app.url_map.iter_rules()
             if "POST" in (r.methods or ()) and r.endpoint.split(".")[0]
             in ("venue_console", "venue_campaigns", "console")}
    assert posts - {"console.login"} == set(cases), "a console POST handler has no audit case here"
    log = AuditLog(redis_client)
    for endpoint, (call, action) in cases.items():
        count = len(log.recent(500))
        resp = call(admin)
        assert resp.status_code in (200, 302), (endpoint, resp.status_code, resp.get_data(as_text=True)[:300])
        new = log.recent(500)[: len(log.recent(500)) - count]
        assert action in [e.action for e in new], (endpoint, [e.action for e in new])
        entry = next(e for e in new if e.action == action)
        assert entry.actor == "user:root" and entry.at > 0 and entry.target, endpoint
        if action.endswith(".update"):
            assert entry.before and entry.after and entry.before != entry.after, endpoint
    # Before/after of the settings change name the changed field.
    update = log.recent(1, target="lib", area="venue")
    assert any(e.before.get("name_zh") == "图书馆" and e.after.get("name_zh") == "新馆"
               for e in log.recent(50, target="lib") if e.action == "venue.update"), update
    # Sign-in outcomes.
    client = app.test_client()
    client.post("/login", data={"csrf_token": csrf(client, "/login"), "username": "bob", "password": "wrong"})
    assert log.recent(1)[0].action == "login.failed" and log.recent(1)[0].target == "bob"


def test_api_drafts_are_kept_but_not_audited_publishes_are(app: Flask, redis_client: Any) -> None:
    """A draft is never served to phones: saving one adds no audit entry (one per save let an
    account grow the audit log at will); the publish records the digest of what went live."""
    client, write = app.test_client(), auth(token(redis_client, "write"))
    for source in ("<p>one</p>", "<p>two!</p>"):
        assert client.put("/api/v1/venues/lib/pages/login/draft", json={"source": source},
                          headers=write).status_code == 200
    assert not [e for e in AuditLog(redis_client).recent(50, area="api") if e.action == "page.draft"]
    state = PageStore(redis_client).state("lib", "login")
    assert state.draft == "<p>two!</p>" and state.draft_author.startswith("token:")
    too_long = client.put("/api/v1/venues/lib/pages/login/draft", json={"source": "x" * 40_001},
                          headers=write)
    assert too_long.status_code == 400
    assert PageStore(redis_client).state("lib", "login").draft == "<p>two!</p>"


# --- operator fields ---------------------------------------------------------------------------------

def test_operator_edits_silent_mac_login_languages_and_countdown(app: Flask, redis_client: Any) -> None:
    alice, tok, _ = signed_in(app, redis_client, "alice")
    base = {"csrf_token": tok, "name_zh": "图书馆", "ad_seconds": "15", "redirect_delay": "2"}
    assert alice.post("/venue/lib/settings", data={**base, "silent_mac_login": "on",
                                                   "lang_en": "on"}).status_code == 302
    venue = VenueStore(redis_client).get("lib")
    assert venue.silent_mac_login and venue.languages == ("en",) and venue.ad_seconds == 15
    html = alice.get("/venue/lib/settings").get_data(as_text=True)
    assert re.search(r'name="silent_mac_login"[^>]*checked', html)
    both = {**base, "lang_zh": "on", "lang_en": "on"}
    assert alice.post("/venue/lib/settings", data=both).status_code == 302
    venue = VenueStore(redis_client).get("lib")
    assert not venue.silent_mac_login and venue.languages == ("zh", "en")
    assert alice.post("/venue/lib/settings", data=base).status_code == 400          # no language at all
    assert VenueStore(redis_client).get("lib").languages == ("zh", "en")


# --- script injection --------------------------------------------------------------------------------

def test_script_injection_in_campaign_account_and_audit_fields_is_escaped(app: Flask,
                                                                          redis_client: Any) -> None:
    admin, tok, _ = signed_in(app, redis_client, "root", Role.ADMIN, ())
    resp = admin.post("/venue/campaigns/new", data=campaign_form(
        tok, name=SCRIPT, title=SCRIPT, text=SCRIPT, ssids=SCRIPT,
        click_url='https://shop.example.cn/?q="><script>alert(1)</script>'))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    html_kind = admin.post("/venue/campaigns/new", data=campaign_form(
        tok, name="h", kind="html", image="", html=f"</textarea>{SCRIPT}"))
    assert html_kind.status_code == 302
    admin.post("/admin/users", data={"csrf_token": tok, "username": "eve", "password": "a-Long-pass-9",
                                     "role": "venue", "venues": "lib", "display_name": SCRIPT})
    bad_login = app.test_client()
    bad_login.post("/login", data={"csrf_token": csrf(bad_login, "/login"), "username": SCRIPT,
                                   "password": "x"})
    ids = [c.id for c in CampaignStore(redis_client).all()]
    paths = ["/venue/campaigns", "/admin/users", "/admin/users/eve", "/admin/audit"]
    for cid in ids:
        paths += [f"/venue/campaigns/{cid}/edit", f"/venue/campaigns/{cid}/stats"]
    for path in paths:
        resp = admin.get(path)
        body = resp.get_data(as_text=True)
        assert resp.status_code == 200, path
        assert SCRIPT not in body and "<script>alert(1)" not in body, path
    html_id = next(c.id for c in CampaignStore(redis_client).all() if c.creative.kind == "html")
    assert "&lt;/textarea&gt;" in admin.get(f"/venue/campaigns/{html_id}/edit").get_data(as_text=True)


# --- a console session is no key to the API ----------------------------------------------------------

def test_console_session_opens_nothing_in_the_api(app: Flask, redis_client: Any) -> None:
    CampaignStore(redis_client).create(Campaign("mallc", "商场活动", Creative("image", "/assets/mall/a.png"),
                                                venues=("mall",)))
    for role in (Role.VENUE, Role.ADMIN):
        client, tok, _ = signed_in(app, redis_client, f"u-{role}", role, ("lib",))
        headers = {"X-CSRF-Token": tok}
        for path in ("/api/v1/venues", "/api/v1/venues/mall", "/api/v1/venues/mall/pages/login",
                     "/api/v1/venues/mall/assets", "/api/v1/campaigns", "/api/v1/campaigns/mallc",
                     "/api/v1/campaigns/mallc/stats", "/api/v1/accounts", "/api/v1/audit"):
            resp = client.get(path, headers=headers)
            assert resp.status_code == 401, (role, path)
            assert "商场" not in resp.get_data(as_text=True)
        patch = client.patch("/api/v1/venues/mall", json={"name_zh": "pwned"}, headers=headers)
        assert patch.status_code == 401
        assert client.delete("/api/v1/campaigns/mallc", headers=headers).status_code == 401
    assert VenueStore(redis_client).get("mall").name_zh == "商场"
    assert CampaignStore(redis_client).get_or_none("mallc") is not None


# --- template reference in the editor ----------------------------------------------------------------

def _documented_names() -> set[str]:
    """The variable names of docs/templates.md's two tables (first column; the page table's
    second column)."""
    doc = (Path(__file__).resolve().parents[4] / "docs" / "templates.md").read_text("utf-8")
    section = doc[doc.index("## Variables every page gets"):doc.index("## Forms a page must keep")]
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        column = cells[1] if cells[0].strip("`") in PAGES else cells[0]
        names.update(re.findall(r"`([a-z_]+(?:\.[a-z_]+)?)`", column))
    return names


def test_editor_documents_every_variable_the_page_gets(app: Flask, redis_client: Any) -> None:
    documented = _documented_names()
    helped = {v.name for v in VARIABLES}
    assert helped <= documented, f"in the editor, not in docs/templates.md: {helped - documented}"
    assert documented - helped <= {"ad"}, f"in docs/templates.md, not in the editor: {documented - helped}"
    ads_venue = Venue(id="x", ads_on_success=True)
    for page in PAGES:
        context = build_context(ads_venue, "zh", **sample_values(page, ads_venue, "zh"))
        tops = {v.top for v in variables_for(page)}
        assert set(context) <= tops, f"{page}: undocumented {set(context) - tops}"
        for name in (v.name for v in variables_for(page) if "." in v.name):
            top, key = name.split(".")
            if isinstance(context.get(top), dict):
                assert key in context[top], f"{page}: documented {name} is not in the context"
    alice, _, _ = signed_in(app, redis_client, "alice")
    for page in ("login", "ad", "success"):
        html = alice.get(f"/venue/lib/pages/{page}").get_data(as_text=True)
        for v in variables_for(page):
            assert f'id="var-{v.name}"' in html, (page, v.name)
        assert "签名的 AC 上下文" in html
    alice.set_cookie("cw_lang", "en")
    html = alice.get("/venue/lib/pages/ad").get_data(as_text=True)
    assert "the single-use ad ticket" in html and 'id="var-status_url"' not in html


def test_ad_preview_has_the_shape_a_phone_gets(app: Flask, redis_client: Any) -> None:
    """``ad.click``/``ad.html``/``ad.campaign`` exist in the preview as on phones, so a template
    testing them behaves the same in both."""
    alice, tok, _ = signed_in(app, redis_client, "alice")
    src = ('{% if ad.campaign is defined and ad.click is defined and ad.html is defined %}'
           '<p id="shape">{{ ad.id }}</p>{% else %}<p id="missing"></p>{% endif %}'
           '<form method="post" action="{{ urls.next }}">'
           '<input type="hidden" name="ticket" value="{{ ticket }}"></form>')
    alice.post("/venue/lib/pages/ad", data={"csrf_token": tok, "source": src, "action": "save"})
    body = alice.get("/venue/lib/pages/ad/preview").get_data(as_text=True)
    assert '<p id="shape">operator-default</p>' in body


# --- lockout, through the UI only --------------------------------------------------------------------

def test_locked_account_refuses_even_the_right_password_until_an_admin_resets_it(
        app: Flask, redis_client: Any) -> None:
    _, bob_pw = create_account(redis_client, "bob", Role.VENUE, ("lib",))
    client = app.test_client()
    for _ in range(5):                                   # console.max_failures in the test settings
        login(client, "bob", "wrong-password")
    assert login(client, "bob", bob_pw).status_code == 429            # locked: right password too
    assert AuditLog(redis_client).recent(1)[0].action == "login.locked"
    admin, tok, _ = signed_in(app, redis_client, "root", Role.ADMIN, ())
    page = admin.get("/admin/users/bob").get_data(as_text=True)
    assert 'value="reset_password"' in page                           # the unlock is on the account page
    reset = admin.post("/admin/users/bob", data={"csrf_token": tok, "action": "reset_password",
                                                 "password": "Fresh-pass-2025"})
    assert reset.status_code == 200
    assert login(client, "bob", "Fresh-pass-2025").status_code == 302
    assert client.get("/venue/lib").status_code == 200


def test_preview_picks_the_language_as_a_phone_would(app: Flask, redis_client: Any) -> None:
    alice, tok, _ = signed_in(app, redis_client, "alice")
    src = login_page('<p id="l">{{ lang }}|{{ venue.name }}</p><a id="sw" href="{{ lang_url }}">x</a>')
    alice.post("/venue/lib/pages/login", data={"csrf_token": tok, "source": src, "action": "publish"})
    zh = alice.get("/venue/lib/pages/login/preview?lang=zh&live=1").get_data(as_text=True)
    assert '<p id="l">zh|图书馆</p>' in zh
    link = re.search(r'id="sw" href="([^"]+)"', zh)
    assert link and "lang=en" in link.group(1) and "live=1" in link.group(1)
    assert '<p id="l">en|Library</p>' in alice.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    VenueStore(redis_client).put(dataclasses.replace(LIB, languages=("en",)))
    only_en = alice.get("/venue/lib/pages/login/preview?lang=zh&live=1").get_data(as_text=True)
    assert '<p id="l">en|Library</p>' in only_en                      # as a Chinese phone would see it


def test_render_time_fallbacks_are_shown_to_the_operator(app: Flask, redis_client: Any) -> None:
    pages = PageStore(redis_client)
    for _ in range(3):
        pages.record_fallback("lib", "success", f"runtime error on line 4: {SCRIPT}")
    alice, _, _ = signed_in(app, redis_client, "alice")
    html = alice.get("/venue/lib").get_data(as_text=True)
    assert "3 — runtime error on line 4" in html and SCRIPT not in html
    bob, _, _ = signed_in(app, redis_client, "bob", Role.VENUE, ("mall",))
    assert bob.get("/venue/lib").status_code == 404
