"""CoovaChilli's JSON interface from the phone's browser, in headless Chromium.

Real parts: Redis, our RADIUS server, the phone pages on a real HTTP server, Chromium running
the login page's script. The gateway is ``tests/fakes/chilli.py`` with its JSON interface
(``/json/status``, ``/json/logon``, JSONP), the phone Chromium itself on 127.0.0.1. The entry
says ``json_login``: after the SMS code the page asks Chilli's ``/json/status``, then
``/json/logon`` and reads ``clientState``, instead of sending the browser to ``/logon``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.sessions import SessionRegistry
from portal.state import keys
from portal.venues.venue_store import Venue, VenueStore
from tests.conftest import free_tcp_port
from tests.e2e.stack import Stack, phone, running_stack, stack_app, wait_for
from tests.fakes.chilli import FakeChilli

pytestmark = [pytest.mark.needs_chromium]

GW = "chilli-json"
UAMSECRET = "uam-secret-json-0123456789"
RADIUS_SECRET = "chilli-json-radius-0123"
IP, MAC = "127.0.0.1", "02:c0:00:00:01:01"        # the phone: Chromium, as the fake sees it


@dataclasses.dataclass
class Rig:
    stack: Stack
    chilli: FakeChilli
    base: str


@contextmanager
def rig(redis_client: Any, redis_url: str, data_dir: Path, **fake: Any) -> Iterator[Rig]:
    from werkzeug.serving import make_server

    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    with running_stack(redis_client, redis_url, data_dir, web={"public_url": base}) as stack:
        chilli = FakeChilli(uamsecret=UAMSECRET, radius_secret=RADIUS_SECRET, uamserver=f"{base}/portal",
                            auth_port=stack.radius_auth_port, acct_port=stack.extras["acct_port"], nasid=GW,
                            **fake).start()
        AcRegistry(stack.redis).put(AcRecord(
            name=GW, kind="chilli", addresses=(chilli.nas_ip,), secret=UAMSECRET, radius_secret=RADIUS_SECRET,
            rfc5176=True, coa_port=chilli.coa_port, client_address_check=False, json_login=True))
        VenueStore(stack.redis, cache_ttl=0.0).put(Venue(id="cafe", name_zh="咖啡馆", name_en="Cafe",
                                                         acs=(GW,)))
        chilli.add_client(IP, MAC)
        server = make_server("127.0.0.1", port, stack_app(stack), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Rig(stack, chilli, base)
        finally:
            server.shutdown()
            thread.join(5)
            chilli.stop()


def login(page: Any, r: Rig, number: str) -> None:
    """Through the gateway → its notyet redirect → our login page → the SMS code → the handoff."""
    page.goto(f"http://{r.chilli.uamip}:{r.chilli.uamport}/news")
    assert page.url.startswith(r.base + "/portal?res=notyet"), page.url
    page.fill("#phone", number)
    page.click("#send")
    page.wait_for_selector("#notice")
    page.fill("#code", r.stack.last_code(number))
    page.click("#go")


def paths(r: Rig) -> list[str]:
    return [p.split("?", 1)[0] for p in r.chilli.json_requests]


def test_json_logon_from_the_page(browser: Any, redis_client: Any, redis_url: str, data_dir: Path) -> None:
    with rig(redis_client, redis_url, data_dir) as r:
        ctx = browser.new_context(locale="en-US")
        page = ctx.new_page()
        number = phone(80)
        login(page, r, number)
        # The script asked status, then logon (JSONP), read clientState 1 and went to our welcome page.
        page.wait_for_url(r.base + "/portal/welcome?s=*", timeout=20_000)
        assert paths(r) == ["/json/status", "/json/logon"], r.chilli.json_requests
        assert all("callback=cwChilli" in p for p in r.chilli.json_requests)
        assert r.chilli.clients[IP].authenticated
        (request,) = r.chilli.requests
        assert request["User-Name"] == [number]         # the token, decoded with the challenge
        assert wait_for(lambda: SessionRegistry(r.stack.redis).by_phone(number), 5)
        ctx.close()


def test_json_logon_refused_shows_the_gateways_message(browser: Any, redis_client: Any, redis_url: str,
                                                        data_dir: Path) -> None:
    with rig(redis_client, redis_url, data_dir) as r:
        ctx = browser.new_context(locale="en-US")
        number = phone(81)

        def expire_token(route: Any) -> None:
            # The one-time token lapses just before Chilli asks our RADIUS: a real Access-Reject.
            r.stack.redis.delete(keys.login_tokens(number))
            route.continue_()

        ctx.route("**/json/logon?*", expire_token)
        page = ctx.new_page()
        login(page, r, number)
        page.wait_for_selector("#failed", state="visible", timeout=20_000)
        assert paths(r) == ["/json/status", "/json/logon"]
        assert not r.chilli.clients[IP].authenticated
        assert "Login refused" in page.inner_text("#failed")
        assert page.get_attribute("#retry", "href") == f"http://{r.chilli.uamip}:{r.chilli.uamport}/prelogin"
        assert r.chilli.clients[IP].challenge          # Chilli drew a fresh one for the next try
        assert not SessionRegistry(r.stack.redis).by_phone(number)
        ctx.close()


def test_stale_challenge_is_not_sent(browser: Any, redis_client: Any, redis_url: str, data_dir: Path) -> None:
    with rig(redis_client, redis_url, data_dir) as r:
        ctx = browser.new_context(locale="en-US")

        def new_challenge(route: Any) -> None:
            # Chilli's challengetimeout passed: its status names a challenge the password was not
            # encoded with, so a logon would be refused; the page does not send it.
            r.chilli.clients[IP].challenge = "ab" * 16
            route.continue_()

        ctx.route("**/json/status?*", new_challenge)
        page = ctx.new_page()
        login(page, r, phone(82))
        page.wait_for_selector("#failed", state="visible", timeout=20_000)
        assert "expired" in page.inner_text("#reason")
        assert paths(r) == ["/json/status"] and not r.chilli.requests
        ctx.close()


def test_gateway_without_json_falls_back_to_the_logon_redirect(browser: Any, redis_client: Any,
                                                                redis_url: str, data_dir: Path) -> None:
    # A Chilli built without the JSON interface: /json/status is an ordinary redirect, which no
    # script loads; the page falls back to the plain /logon URL, and Chilli's res=success lands.
    with rig(redis_client, redis_url, data_dir, json=False) as r:
        ctx = browser.new_context(locale="en-US")
        page = ctx.new_page()
        number = phone(83)
        login(page, r, number)
        page.wait_for_url(r.base + "/portal/welcome?s=*", timeout=30_000)
        assert r.chilli.clients[IP].authenticated and len(r.chilli.requests) == 1
        assert wait_for(lambda: SessionRegistry(r.stack.redis).by_phone(number), 5)
        ctx.close()
