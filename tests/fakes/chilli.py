"""A loopback CoovaChilli, written from its documentation (UAM redirect, md, logon, RADIUS, DM).

What it does like the real daemon (``chilli.conf(5)``, ``doc/hotspotlogin.cgi``):

* any request of an unauthenticated client is answered 302 to ``uamserver?res=notyet&uamip
  &uamport&challenge&called&mac&ip&nasid&sessionid&userurl&md`` with a fresh 16-byte challenge,
  ``md`` = upper-hex MD5 of the URL before ``&md=`` + uamsecret;
* ``/logon?username&password|response&userurl`` decodes the password with the client's CURRENT
  challenge (PAP: XOR with MD5(challenge ‖ uamsecret); CHAP: passes CHAP-Challenge =
  MD5(challenge ‖ uamsecret)), spends that challenge, and asks RADIUS (``HotspotNas``):
  Accept → Accounting-Start and 302 ``res=success``; Reject or no answer → a new challenge and
  302 ``res=failed&reply=…``;
* ``/logoff`` → Accounting-Stop and 302 ``res=logoff``; ``/prelogin`` → a fresh ``notyet``;
* RFC 5176 Disconnect as ``HotspotNas`` does.

Faults: ``md_secret`` signs redirects with another secret (a misconfigured or forged gateway).
"""

from __future__ import annotations

import hashlib
import os
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ac_adapters.gateways.chilli import chilli_quote, redirect_md
from tests.fakes.hotspot_nas import HotspotClient, HotspotNas

__all__ = ["FakeChilli"]


class FakeChilli(HotspotNas):
    def __init__(self, *, uamsecret: str, uamserver: str, md_secret: str | None = None, **nas: Any) -> None:
        super().__init__(**nas)
        self.uamsecret, self.md_secret = uamsecret, md_secret if md_secret is not None else uamsecret
        self.uamserver = uamserver
        self.uamip, self.uamport = self.http_ip, self.http_port

    def redirect_url(self, client: HotspotClient, res: str, userurl: str = "", reply: str = "") -> str:
        items = [("res", res), ("uamip", self.uamip), ("uamport", str(self.uamport))]
        if res in ("notyet", "failed"):
            client.challenge = os.urandom(16).hex()
            items.append(("challenge", client.challenge))
        items += [("called", "02-00-00-00-00-01"), ("mac", self.calling_station(client)), ("ip", client.ip)]
        if reply:
            items.append(("reply", reply))
        session = client.session_id or f"{int(time.time()):08x}00000001"
        items += [("nasid", self.nasid), ("sessionid", session)]
        if userurl:
            items.append(("userurl", userurl))
        text = self.uamserver + "?" + "&".join(f"{n}={chilli_quote(v)}" for n, v in items)
        return f"{text}&md={redirect_md(text, self.md_secret)}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        query = dict(parse_qsl(url.query))
        client = self.clients.get(h.client_address[0])
        if client is None:
            self.reply(h, 403, "unknown client (no DHCP lease)")
        elif url.path == "/logon":
            self.redirect(h, self._logon(client, query))
        elif url.path == "/logoff":
            self.account(client, "Stop")
            client.authenticated = False
            self.redirect(h, self.redirect_url(client, "logoff"))
        elif url.path == "/prelogin" or not client.authenticated:
            target = "" if url.path == "/prelogin" else f"http://{h.headers.get('Host', 'x')}{h.path}"
            self.redirect(h, self.redirect_url(client, "notyet", target))
        else:
            self.reply(h, 200, "behind the gateway: the internet")

    def _logon(self, client: HotspotClient, query: dict[str, str]) -> str:
        userurl = query.get("userurl", "")
        if client.authenticated:
            return self.redirect_url(client, "already", userurl)
        challenge, client.challenge = client.challenge, ""     # one logon per challenge
        if not challenge:
            return self.redirect_url(client, "failed", userurl, "no challenge")
        newchal = hashlib.md5(bytes.fromhex(challenge) + self.uamsecret.encode()).digest()

        def fill(pkt: Any) -> None:
            if "response" in query:
                pkt["CHAP-Challenge"] = newchal
                pkt["CHAP-Password"] = b"\x00" + bytes.fromhex(query["response"])
            else:
                enc = bytes.fromhex(query.get("password", ""))
                plain = bytes(b ^ newchal[i % 16] for i, b in enumerate(enc))
                pkt["User-Password"] = pkt.PwCrypt(plain.decode("latin-1"))

        reply = self.radius_login(client, query.get("username", ""), fill)
        if not client.authenticated:
            return self.redirect_url(client, "failed", userurl, self.reply_message(reply))
        return self.redirect_url(client, "success", userurl)
