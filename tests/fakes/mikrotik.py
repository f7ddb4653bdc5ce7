"""A loopback MikroTik RouterOS Hotspot with an external login page, written from RouterOS's
Hotspot documentation (servlet pages, variables, HTTP-CHAP login, RADIUS, incoming DM).

* An unauthenticated client's request is answered with the router's ``login.html`` — the
  trampoline we ship (``deploy/mikrotik/login.html``) with its ``$(variable)``s filled in as
  RouterOS renders them: ``$(chap-id)`` and ``$(chap-challenge)`` as octal escapes, a fresh
  16-byte challenge per page, ``$(link-login-only)`` = ``http://<router>/login``.
* ``/login?username&password&dst`` (HTTP-CHAP): the password is the hex MD5 digest; the router
  sends ``CHAP-Password`` = chap-id ‖ digest and ``CHAP-Challenge`` = its current challenge to
  RADIUS and spends that challenge. Accept → Accounting-Start and 302 to ``dst``; Reject →
  ``login.html`` again with ``$(error)`` = the Reply-Message and a fresh challenge.
* ``/logout`` → Accounting-Stop; RFC 5176 Disconnect as ``HotspotNas`` does.
"""

from __future__ import annotations

import html
import os
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ac_adapters.gateways.mikrotik import encode_octal
from tests.fakes.hotspot_nas import HotspotClient, HotspotNas

__all__ = ["LOGIN_HTML", "FakeMikrotik"]

LOGIN_HTML = Path(__file__).resolve().parents[2] / "deploy" / "mikrotik" / "login.html"


class FakeMikrotik(HotspotNas):
    mac_separator = ":"          # RouterOS: Calling-Station-Id "AA:BB:CC:DD:EE:FF"

    def __init__(self, *, portal_url: str, identity: str, **nas: Any) -> None:
        super().__init__(nasid=identity, **nas)
        self.portal_url, self.identity = portal_url, identity
        self.template = LOGIN_HTML.read_text(encoding="utf-8").replace("PORTAL_URL", portal_url)

    @property
    def link_login_only(self) -> str:
        return f"http://{self.http_ip}:{self.http_port}/login"

    def login_page(self, client: HotspotClient, orig: str, error: str = "") -> str:
        challenge = os.urandom(16)
        client.challenge, client.chap_id = challenge.hex(), challenge[0]
        values = {"identity": self.identity, "mac": client.mac.upper(), "ip": client.ip,
                  "link-login-only": self.link_login_only,
                  "link-orig": orig, "chap-id": encode_octal(bytes([client.chap_id])),
                  "chap-challenge": encode_octal(challenge), "error": error}
        page = self.template
        for name, value in values.items():
            page = page.replace(f"$({name})", html.escape(value))
        return page

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        query = dict(parse_qsl(url.query))
        client = self.clients.get(h.client_address[0])
        if client is None:
            self.reply(h, 403, "not a hotspot client")
        elif url.path == "/login" and "username" in query:
            self._login(h, client, query)
        elif url.path == "/logout":
            self.account(client, "Stop")
            client.authenticated = False
            self.reply(h, 200, "logged out")
        elif not client.authenticated:
            orig = f"http://{h.headers.get('Host', 'x')}{h.path}"
            self.reply(h, 200, self.login_page(client, orig), "text/html; charset=utf-8")
        else:
            self.reply(h, 200, "behind the router: the internet")

    def _login(self, h: BaseHTTPRequestHandler, client: HotspotClient, query: dict[str, str]) -> None:
        dst = query.get("dst", "")
        if client.authenticated:
            self.redirect(h, dst or "/status")
            return
        challenge, client.challenge = client.challenge, ""      # one login per challenge
        if not challenge:
            self.reply(h, 200, self.login_page(client, dst, "no challenge"), "text/html; charset=utf-8")
            return

        def fill(pkt: Any) -> None:
            pkt["CHAP-Password"] = bytes([client.chap_id]) + bytes.fromhex(query.get("password", ""))
            pkt["CHAP-Challenge"] = bytes.fromhex(challenge)

        reply = self.radius_login(client, query["username"], fill)
        if client.authenticated:
            self.redirect(h, dst or "/status")
        else:
            page = self.login_page(client, dst, self.reply_message(reply))
            self.reply(h, 200, page, "text/html; charset=utf-8")

    def form_of(self, page: str) -> tuple[str, list[tuple[str, str]]]:
        """What the browser posts from ``login.html``: (action, fields in order)."""
        action = re.search(r'<form name="citywifi" action="([^"]+)"', page)
        assert action, page[:400]
        fields = [(n, html.unescape(v)) for n, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page)]
        return html.unescape(action.group(1)), fields
