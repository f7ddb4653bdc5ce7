"""Venue scripts in headless Chromium on the real stack (RADIUS, the AC simulator, Redis): a
venue's inline script runs on the phone's page only once a NOC user opted the venue in from
the console; a venue operator cannot opt in, not even with a hand-made form; and the console's
preview runs a venue's script only in a sandboxed, opaque origin, away from the console."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.admin.accounts import Role
from portal.runtime.settings import ConsoleSettings
from portal.venues.pages import PageStore
from portal.venues.venue_store import VenueStore, update_venue
from tests.e2e.stack import Stack, running_stack, serve_app, stack_app
from tests.portal.venues.pagekit import login_page
from tests.portal.web.consolekit import create_account

pytestmark = [pytest.mark.needs_chromium]

# What the venue's script tries, written into the page for the test to read.
PROBE = """<p id="ran">no</p><p id="checks"></p>
<script>
(async function () {
  var out = [];
  document.getElementById("ran").textContent = "yes";
  out.push("origin:" + window.origin);
  try { document.cookie; out.push("cookie:read"); } catch (e) { out.push("cookie:blocked"); }
  try { parent.document.title; out.push("parent:" + (parent === window ? "self" : "read")); }
  catch (e) { out.push("parent:blocked"); }
  try { var r = await fetch("/venue", {credentials: "include"}); await r.text(); out.push("console:read"); }
  catch (e) { out.push("console:blocked"); }
  try { await fetch("http://localhost:PORT/leak"); out.push("foreign:sent"); }
  catch (e) { out.push("foreign:blocked"); }
  document.getElementById("checks").textContent = out.join(" ");
})();
</script>"""


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


@pytest.fixture
def base_url(stack: Stack) -> Iterator[str]:
    settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
    app = stack_app(stack, settings)
    with serve_app(app) as url:
        yield url


def probe(base_url: str) -> str:
    return PROBE.replace("PORT", base_url.rsplit(":", 1)[1])


def sign_in(browser: Any, base_url: str, redis: Any, role: Role, name: str) -> Any:
    _, password = create_account(redis, name, role, ("library",) if role is Role.VENUE else ())
    page = browser.new_context(locale="en-US").new_page()
    page.goto(f"{base_url}/venue")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#signin")
    page.wait_for_url(f"{base_url}/venue")
    return page


def phone_visit(browser: Any, stack: Stack, base_url: str) -> tuple[str, str, list[str]]:
    """A phone opens its AC redirect: (#ran, #checks, URLs its page requested)."""
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(stack.redirect(3, f"{base_url}/portal"))
        page.wait_for_timeout(600)            # time for the script's fetches to settle
        return page.locator("#ran").inner_text(), page.locator("#checks").inner_text(), requested
    finally:
        context.close()


def test_a_venue_script_runs_on_phones_only_after_the_noc_opts_the_venue_in(
        browser: Any, stack: Stack, base_url: str) -> None:
    PageStore(stack.redis).publish(stack.venues.get("library"), "login", "alice",
                                   source=login_page(probe(base_url)))
    ran, checks, _ = phone_visit(browser, stack, base_url)
    assert ran == "no" and checks == ""                     # not opted in: no venue script runs

    noc = sign_in(browser, base_url, stack.redis, Role.NOC, "nina")
    noc.goto(f"{base_url}/venue/library/settings")
    assert "trust" in noc.locator("#scripts-note").inner_text()
    noc.check("#scripts_allowed")
    noc.click("#save-settings")
    noc.wait_for_selector(".flash.ok")
    assert VenueStore(stack.redis, cache_ttl=0.0).get("library").scripts_allowed

    ran, checks, requested = phone_visit(browser, stack, base_url)
    assert ran == "yes"
    # Still an opaque origin: no cookies, no reading the consoles, nothing sent to another origin.
    assert checks.split() == ["origin:null", "cookie:blocked", "parent:self", "console:blocked",
                              "foreign:blocked"], checks
    assert not any("localhost" in url or "evil" in url for url in requested), requested

    noc.goto(f"{base_url}/venue/library/settings")          # and off again
    noc.uncheck("#scripts_allowed")
    noc.click("#save-settings")
    noc.wait_for_selector(".flash.ok")
    assert phone_visit(browser, stack, base_url)[0] == "no"
    noc.context.close()


def test_a_venue_operator_cannot_opt_in_even_with_a_hand_made_form(
        browser: Any, stack: Stack, base_url: str) -> None:
    PageStore(stack.redis).publish(stack.venues.get("library"), "login", "alice",
                                   source=login_page(probe(base_url)))
    alice = sign_in(browser, base_url, stack.redis, Role.VENUE, "alice")
    alice.goto(f"{base_url}/venue/library/settings")
    assert alice.locator("#scripts_allowed").count() == 0
    assert "not run" in alice.locator("#scripts-state").inner_text()
    # The operator adds the field to their own form (devtools) and saves.
    alice.evaluate("""() => { const f = document.getElementById("settings");
        for (const [k, v] of [["scripts_allowed", "on"], ["name_en", "Forged"]]) {
            const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v;
            f.appendChild(i); }
        document.querySelector("input[name=name_en]").remove(); }""")
    alice.click("#save-settings")
    alice.wait_for_selector(".flash.ok")
    venue = VenueStore(stack.redis, cache_ttl=0.0).get("library")
    assert venue.name_en == "Forged" and not venue.scripts_allowed   # the form saved, not the field
    assert phone_visit(browser, stack, base_url)[0] == "no"
    alice.context.close()


def test_the_console_preview_runs_an_opted_in_venues_script_only_in_a_sandbox(
        browser: Any, stack: Stack, base_url: str) -> None:
    stack.venues.put(update_venue(stack.venues.get("library"), {"scripts_allowed": True},
                                  operator_hosts=stack.settings.web.redirect_hosts, network=True))
    PageStore(stack.redis).save_draft("library", "login", login_page(probe(base_url)), "alice")
    alice = sign_in(browser, base_url, stack.redis, Role.VENUE, "alice")
    alice.goto(f"{base_url}/venue/library/pages/login")
    frame = alice.frame_locator("#preview-frame")
    assert frame.locator("#ran").inner_text(timeout=5000) == "yes"
    frame.locator("#checks").filter(has_text="foreign:").wait_for(timeout=5000)
    assert frame.locator("#checks").inner_text().split() == [
        "origin:null", "cookie:blocked", "parent:blocked", "console:blocked", "foreign:blocked"]
    # The console page itself runs none of it and keeps its own origin.
    assert alice.locator("#ran").count() == 0
    assert alice.evaluate("window.origin") == base_url
    # Opened on its own, the preview is just as sandboxed (the policy, not only the frame).
    alice.goto(f"{base_url}/venue/library/pages/login/preview")
    alice.locator("#checks").filter(has_text="foreign:").wait_for(timeout=5000)
    assert alice.locator("#checks").inner_text().split()[:2] == ["origin:null", "cookie:blocked"]
    alice.context.close()
