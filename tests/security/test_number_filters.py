"""Filters that do big-integer arithmetic from small inputs are predicted and refused before they run.

An attack run found ``{{ 10|round(-30000000) }}``: ``round`` of an int to a negative precision
builds ``10**N`` in one uninterrupted C call (no deadline check can interrupt it), so two parallel
previews held both gunicorn workers until they were SIGKILLed; the same stalled the editor page
(which trial-renders the draft), campaign HTML saves (which were not gated like previews) and, on
a published page, a phone's POST. The number filters (``round``, ``int``, ``sum``, …) and the
tests now refuse, before running, a precision or an integer past what arithmetic may build.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ad_pages.sandbox import PageRenderer, TemplateProblem
from portal.admin.accounts import Role
from portal.venues.venue_store import Venue
from tests.ad_pages.test_sandbox import ctx
from tests.e2e.stack import Stack, running_stack
from tests.portal.venues.pagekit import login_page
from tests.portal.web.consolekit import create_account
from tests.security.phone_http import Client, serve

BATTERY = [
    "{{ 10|round(-30000000) }}",
    "{{ 10|round(-30000000, 'floor') }}",
    "{{ 1.5|round(30000000, 'ceil') }}",
    "{{ (10 * 10)|round(-30000000) }}",
    "{{ ('f' * 19000)|int(base=16) }}",
    "{{ ('1' * 19000)|int(base=2) }}",
    "{{ ('1' * 19000)|int(0, 0) }}",
    "{% set n = ('f' * 5000)|int(base=16) %}{{ n|abs }}",
    "{% set n = ('f' * 5000)|int(base=16) %}{{ [n, n]|sum }}",
    "{% set n = ('f' * 5000)|int(base=16) %}{{ n is divisibleby 7 }}",
]


AUDITED = [     # the other filters and methods whose work a small argument chooses: refused too
    "{{ 'a'|center(10**9) }}", "{{ 'a'|indent(10**9) }}", "{{ 'a b'|wordwrap(10**9) }}",
    "{{ range(0, 10**9, 1)|list|length }}", "{{ 'a'.zfill(10**9) }}", "{{ 'a'.ljust(10**9) }}",
    "{{ (2**64) ** 64 }}", "{{ 'x' * 10**9 }}",
]


@pytest.mark.parametrize("source", BATTERY + AUDITED)
def test_number_blow_ups_are_refused_before_they_run(source: str) -> None:
    renderer = PageRenderer()
    timings = []
    for _ in range(3):          # best of three: tolerate a loaded machine, not a slow refusal
        start = time.perf_counter()
        with pytest.raises(TemplateProblem) as refused:
            renderer.check(source, {})
        timings.append(time.perf_counter() - start)
        assert refused.value.kind == "limit", refused.value
    assert min(timings) < 0.05, timings


def test_ordinary_rounding_and_conversion_still_work() -> None:
    renderer = PageRenderer()
    assert renderer.check("{{ 42.55|round(1, 'floor') }} {{ 1234|round(-2) }} {{ '0x1f'|int(0, 16) }} "
                          "{{ '42.7'|int }} {{ 2.5|round(300) }}", {}) == "42.5 1200 31 42 2.5"


def test_a_phone_conditional_bomb_on_a_published_page_falls_back_fast() -> None:
    """The publish check cannot see ``{% if phone == … %}``; the phone's render refuses it."""
    renderer = PageRenderer()
    source = login_page('{% if phone == "13800138000" %}{{ 10|round(-10000000) }}{% endif %}')
    start = time.perf_counter()
    result = renderer.render("login", ctx(phone="13800138000"), source)
    assert time.perf_counter() - start < 0.5
    assert result.source == "default" and "round precision" in result.fallback_reason


def test_functions_print_as_neutral_text() -> None:
    """``{{ range }}`` printed ``<bound method _GuardedEnvironment._range of <…> at 0x7f…>``."""
    renderer = PageRenderer()
    html = renderer.check("{{ range }}|{{ ''.upper }}|{{ [range] }}|{{ range ~ '' }}|{{ ''['upper'] }}", {})
    assert " at 0x" not in html and "_GuardedEnvironment" not in html and "ad_pages" not in html
    assert html.count("function") == 5
    for probe in ("{{ range.func }}", "{{ ''.upper.func }}", "{{ range['func'] }}"):
        with pytest.raises(TemplateProblem) as refused:
            renderer.check(probe, {})
        assert refused.value.kind == "security"


# --- over HTTP: previews, the editor page and campaign saves, while a phone lands ------------------

HOSTILE_SLOW = "{{ 10|round(-3000000) }}"    # ~2.5 s of one C call each before the fix


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        s.venues.put(Venue(id="evil", name_zh="某店", name_en="Some shop"))
        yield s


def console(base: str, redis: Any, username: str, venues: tuple[str, ...]) -> Client:
    _, password = create_account(redis, username, Role.VENUE, venues)
    client = Client(base, "127.0.0.1", lang="en")
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    assert client.post("/login", {"username": username, "password": password,
                                  "csrf_token": token.group(1)}).status == 302
    return client


def csrf_of(client: Client, path: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert m, path
    return m.group(1)


def test_hostile_previews_do_not_stall_a_phone_at_another_venue(stack: Stack, redis_client: Any) -> None:
    with serve(stack) as base:
        mallory = console(base, redis_client, "mallory", ("evil",))
        token = csrf_of(mallory, "/venue/evil/pages/login")
        assert mallory.post("/venue/evil/pages/login", {"csrf_token": token, "action": "save",
                                                        "source": login_page(HOSTILE_SLOW)}).status == 302
        # Opening the editor trial-renders the draft: refused at once, not 2.5 s (18 s in the report).
        start = time.perf_counter()
        editor = mallory.get("/venue/evil/pages/login")
        assert editor.status == 200 and time.perf_counter() - start < 1.5
        assert "round precision" in editor.text

        statuses: list[int] = []
        go = threading.Barrier(5)

        def preview() -> None:
            go.wait()
            statuses.append(mallory.get("/venue/evil/pages/login/preview").status)

        threads = [threading.Thread(target=preview) for _ in range(4)]
        for t in threads:
            t.start()
        go.wait()
        time.sleep(0.05)
        phone = Client(base, "127.0.0.1")
        start = time.perf_counter()
        landing = phone.get("/portal?" + stack.query(1))
        phone_seconds = time.perf_counter() - start
        for t in threads:
            t.join(60)
        assert landing.status == 200
        assert phone_seconds < 1.5, phone_seconds
        assert all(s in (200, 429) for s in statuses), statuses


def campaign_form(token: str, html: str) -> dict[str, str]:
    return {"csrf_token": token, "name": "spring", "kind": "html", "html": html, "click_url": "",
            "title": "t", "venues": "evil", "weight": "1", "priority": "0", "frequency_cap": "0",
            "enabled": "on", "hours": "", "start": "", "end": "", "ssids": ""}


def test_campaign_html_saves_are_refused_fast_and_gated(stack: Stack, redis_client: Any) -> None:
    with serve(stack) as base:
        mallory = console(base, redis_client, "mallory", ("evil",))
        token = csrf_of(mallory, "/venue/campaigns/new")
        start = time.perf_counter()
        refused = mallory.post("/venue/campaigns/new", campaign_form(token, "AD{{ 10|round(-3000000) }}"))
        assert refused.status == 400 and time.perf_counter() - start < 1.5
        assert "round precision" in refused.text

        # A save's trial render takes one of the account's render slots, like a preview: with a
        # template that spins to its time budget, 6 parallel saves cannot all run.
        spin = "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
        statuses: list[int] = []
        bodies: list[str] = []
        go = threading.Barrier(6)

        def save() -> None:
            go.wait()
            page = mallory.post("/venue/campaigns/new", campaign_form(token, spin))
            statuses.append(page.status)
            bodies.append(page.text)

        threads = [threading.Thread(target=save) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert 429 in statuses, statuses
        busy = bodies[statuses.index(429)]
        assert "请稍后再试" in busy and "try again" in busy
