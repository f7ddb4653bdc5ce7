"""Venue scripts, a NOC opt-in per venue (``Venue.scripts_allowed``).

Who may turn it on (NOC/admin in the console, a write token in the API — never the venue's own
operator, whatever fields their form or request carries), that every change is audited, and what
an opted-in venue's phone pages get: a per-response nonce on the inline scripts written in the
template (never on markup that came from data, never on ``<script src>``), inside the same
sandboxed, no-foreign-origin policy. Chromium runs the pages in tests/e2e/test_venue_scripts_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ad_pages.sandbox import PageRenderer
from portal.admin.accounts import AccountStore, Role
from portal.admin.apitokens import ApiTokenStore
from portal.admin.audit import AuditLog
from portal.venues.pages import PageStore
from portal.venues.venue_store import VenueSettingsError, VenueStore, update_venue
from portal.web.venue.venue_console import PREVIEW_CSP
from tests.e2e.stack import Stack, running_stack, stack_app
from tests.portal.venues.pagekit import login_page
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import create_account, csrf, login, make_app
from tests.security.test_venue_page_csp import assert_contained, directives

SCRIPTED = login_page(
    '<p id="ran">no</p><script>document.getElementById("ran").textContent = "yes"</script>'
    '<script src="https://evil.example/x.js"></script>')
HOSTS = ("library.example.cn", ".operator.example.cn")     # the stack's web.redirect_hosts
NONCE = re.compile(r"<script nonce=\"([A-Za-z0-9_\-]+)\">")


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


@pytest.fixture
def consoles(redis_client: Any, data_dir: Path, stack: Stack) -> Flask:
    """The consoles and API on the stack's Redis (its venue "library")."""
    return make_app(redis_client, data_dir, redirect_hosts=stack.settings.web.redirect_hosts)


def signed_in(app: Flask, redis: Any, name: str, role: Role, venues: tuple[str, ...] = ()) -> tuple[Any, str]:
    _, password = create_account(redis, name, role, venues)
    client = app.test_client()
    assert login(client, name, password).status_code == 302
    return client, csrf(client, "/venue")


def settings_form(venue_id: str, redis: Any, **extra: str) -> dict[str, str]:
    venue = VenueStore(redis).get(venue_id)
    return {"name_zh": venue.name_zh, "name_en": venue.name_en, "redirect_url": venue.redirect_url,
            "redirect_delay": str(venue.redirect_delay), "ad_seconds": str(venue.ad_seconds),
            "lang_zh": "on", "lang_en": "on", **extra}


def allowed(redis: Any, venue_id: str = "library") -> bool:
    return VenueStore(redis, cache_ttl=0.0).get(venue_id).scripts_allowed


# --- who may turn it on ------------------------------------------------------------------------

def test_a_venue_operator_cannot_opt_their_venue_in(consoles: Flask, redis_client: Any) -> None:
    alice, token_ = signed_in(consoles, redis_client, "alice", Role.VENUE, ("library",))
    page = alice.get("/venue/library/settings").get_data(as_text=True)
    assert 'name="scripts_allowed"' not in page and 'id="scripts-state"' in page
    # The operator's own form, with the field added by hand (mass assignment), saves the rest
    # and leaves scripts off; so does every spelling a hand-made form might try.
    for value in ("on", "1", "true"):
        resp = alice.post("/venue/library/settings",
                          data=settings_form("library", redis_client, csrf_token=token_,
                                             name_en="Library", scripts_allowed=value))
        assert resp.status_code == 302
        assert not allowed(redis_client)
    assert VenueStore(redis_client, cache_ttl=0.0).get("library").name_en == "Library"
    # The use case itself refuses the field for an operator, naming it.
    with pytest.raises(VenueSettingsError) as err:
        update_venue(VenueStore(redis_client).get("library"), {"scripts_allowed": True},
                     operator_hosts=(), network=False)
    assert err.value.field == "scripts_allowed"


def test_the_noc_opts_a_venue_in_and_out_in_the_console_audited(consoles: Flask, redis_client: Any) -> None:
    noc, token_ = signed_in(consoles, redis_client, "nina", Role.NOC)
    page = noc.get("/venue/library/settings").get_data(as_text=True)
    assert 'name="scripts_allowed"' in page and 'id="scripts-note"' in page
    venue = VenueStore(redis_client).get("library")
    network = {"acs": ",".join(venue.acs), "ssids": ",".join(venue.ssids),
               "redirect_hosts": ",".join(venue.redirect_hosts)}
    for on in (True, False):
        form = settings_form("library", redis_client, csrf_token=token_, **network,
                             **({"scripts_allowed": "on"} if on else {}))
        assert noc.post("/venue/library/settings", data=form).status_code == 302
        assert allowed(redis_client) is on
    entries = [e for e in AuditLog(redis_client).recent(10) if e.action == "venue.update"]
    changes = [(e.before["scripts_allowed"], e.after["scripts_allowed"], e.actor) for e in entries]
    assert (False, True, "user:nina") in changes and (True, False, "user:nina") in changes


def test_the_api_sets_it_with_write_scope_only(consoles: Flask, redis_client: Any) -> None:
    client = consoles.test_client()
    body = {"scripts_allowed": True}
    assert client.patch("/api/v1/venues/library", json=body,
                        headers=auth(token(redis_client, "read"))).status_code == 403
    assert client.patch("/api/v1/venues/library", json={"scripts_allowed": "yes"},
                        headers=auth(token(redis_client, "write"))).status_code == 400
    assert not allowed(redis_client)
    resp = client.patch("/api/v1/venues/library", json=body, headers=auth(token(redis_client, "write")))
    assert resp.status_code == 200 and resp.get_json()["scripts_allowed"] is True
    assert client.get("/api/v1/venues/library", headers=auth(token(redis_client)))\
        .get_json()["scripts_allowed"] is True
    entry = next(e for e in AuditLog(redis_client).recent(10) if e.action == "venue.update")
    assert entry.actor.startswith("token:") and entry.after["scripts_allowed"] is True
    # A new venue can be created opted in (write scope), and the OpenAPI document says so.
    resp = client.post("/api/v1/venues", json={"id": "gallery", "scripts_allowed": True},
                       headers=auth(token(redis_client, "write")))
    assert resp.status_code == 201 and allowed(redis_client, "gallery")
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "scripts_allowed" in doc["paths"]["/venues/{venue_id}"]["patch"]["requestBody"][
        "content"]["application/json"]["schema"]["properties"]


def test_a_token_whose_creator_is_now_a_venue_operator_cannot_set_it(consoles: Flask,
                                                                     redis_client: Any) -> None:
    create_account(redis_client, "olga", Role.NOC)
    _id, secret = ApiTokenStore(redis_client).create("olga-write", "write", "user:olga")
    AccountStore(redis_client).update("olga", role=Role.VENUE, venues=("library",))
    resp = consoles.test_client().patch("/api/v1/venues/library", json={"scripts_allowed": True},
                                        headers=auth(secret))
    assert resp.status_code in (401, 403)
    assert not allowed(redis_client)


# --- what an opted-in venue's phones get --------------------------------------------------------

def _phone_page(stack: Stack) -> tuple[str, str]:
    client = stack_app(stack).test_client()
    resp = client.get("/portal?" + stack.query(1))
    return resp.get_data(as_text=True), resp.headers["Content-Security-Policy"]


def test_an_opted_in_venue_gets_a_fresh_nonce_on_its_own_inline_scripts_only(stack: Stack) -> None:
    venue = stack.venues.get("library")
    PageStore(stack.redis).publish(venue, "login", "alice", source=SCRIPTED)
    html, policy = _phone_page(stack)                       # not opted in: nothing runs
    assert "nonce" not in html and directives(policy)["script-src"] == ["'none'"]
    assert_contained(policy, {"library.example.cn", "*.operator.example.cn"})

    stack.venues.put(update_venue(venue, {"scripts_allowed": True}, operator_hosts=HOSTS, network=True))
    html, policy = _phone_page(stack)
    d = directives(policy)
    nonce = NONCE.search(html).group(1)  # type: ignore[union-attr]
    assert d["script-src"] == [f"'nonce-{nonce}'"]
    assert d["sandbox"] == ["allow-forms", "allow-popups", "allow-popups-to-escape-sandbox",
                            "allow-top-navigation-by-user-activation", "allow-scripts"]
    assert d["default-src"] == ["'none'"] and d["connect-src"] == ["'self'"]
    assert d["frame-ancestors"] == ["'none'"] and "form-action" in d
    assert set(d["form-action"]) <= {"'self'", "library.example.cn", "*.operator.example.cn"}
    for name in ("img-src", "font-src", "media-src", "style-src"):
        assert set(d[name]) <= {"'self'", "data:", "'unsafe-inline'"}, name
    assert '<script src="https://evil.example/x.js">' in html      # no nonce: it loads nothing
    assert html.count(f'nonce="{nonce}"') == 1
    again, policy2 = _phone_page(stack)
    assert NONCE.search(again).group(1) != nonce and nonce not in policy2  # type: ignore[union-attr]


def test_markup_from_data_never_gets_the_nonce() -> None:
    """Even a template that prints a phone's value unescaped cannot hand that value a script:
    the nonce is added to the template's text when it is compiled, not to the output."""
    renderer = PageRenderer()
    source = login_page("<p>{{ phone|safe }}</p><script>ok()</script>")
    context = {"phone": '<script>steal()</script><script src="//evil.example/x.js"></script>',
               "csp_nonce": "n0nce-n0nce-n0nce-1", "urls": {}, "c": ""}
    html = renderer.render("login", context, source).html
    assert html.count('nonce="n0nce-n0nce-n0nce-1"') == 1
    assert '<script nonce="n0nce-n0nce-n0nce-1">ok()</script>' in html
    assert "<p><script>steal()</script>" in html
    # Without a nonce in the context the template renders exactly as before.
    assert "nonce" not in renderer.render("login", {**context, "csp_nonce": ""}, source).html


def test_the_preview_runs_scripts_only_as_phones_would_and_always_sandboxed(
        consoles: Flask, redis_client: Any, stack: Stack) -> None:
    PageStore(redis_client).save_draft("library", "login", SCRIPTED, "alice")
    alice, _ = signed_in(consoles, redis_client, "alice", Role.VENUE, ("library",))
    resp = alice.get("/venue/library/pages/login/preview")
    assert resp.headers["Content-Security-Policy"] == PREVIEW_CSP
    d = directives(PREVIEW_CSP)
    assert d["sandbox"] == [] and d["script-src"] == ["'none'"]
    stack.venues.put(update_venue(stack.venues.get("library"), {"scripts_allowed": True},
                                  operator_hosts=HOSTS, network=True))
    resp = alice.get("/venue/library/pages/login/preview")
    d = directives(resp.headers["Content-Security-Policy"])
    nonce = NONCE.search(resp.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert d["sandbox"] == ["allow-scripts"] and d["script-src"] == [f"'nonce-{nonce}'"]
    assert "allow-same-origin" not in resp.headers["Content-Security-Policy"]
    assert d["form-action"] == ["'none'"] and d["default-src"] == ["'none'"]
    # The console's own pages never carry a venue's nonce or its scripts.
    editor = alice.get("/venue/library/pages/login").get_data(as_text=True)
    assert nonce not in editor and 'textContent = "yes"</script>' not in editor
