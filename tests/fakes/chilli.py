"""A loopback CoovaChilli, written from its documentation (UAM redirect, md, logon, RADIUS, DM).

What it does like the real daemon (``chilli.conf(5)``, ``doc/hotspotlogin.cgi``):

* any request of an unauthenticated client is answered 302 to ``uamserver?res=notyet&uamip
  &uamport&challenge&called&mac&ip&nasid&sessionid&userurl&md`` with the client's 16-byte
  challenge (drawn when it has none: a logon spends it),
  ``md`` = upper-hex MD5 of the URL before ``&md=`` + uamsecret;
* ``/logon?username&password|response&userurl`` decodes the password with the client's CURRENT
  challenge (PAP: XOR with MD5(challenge ‖ uamsecret); CHAP: passes CHAP-Challenge =
  MD5(challenge ‖ uamsecret)), spends that challenge, and asks RADIUS (``HotspotNas``):
  Accept → Accounting-Start and 302 ``res=success``; Reject or no answer → a new challenge and
  302 ``res=failed&reply=…``;
* ``/logoff`` → Accounting-Stop and 302 ``res=logoff``; ``/prelogin`` → a fresh ``notyet``;
* RFC 5176 Disconnect as ``HotspotNas`` does;
* the JSON interface (``/json/status``, ``/json/logon``, ``/json/logoff``): the same handling,
  answered 200 with one object ``{"version":"1.0","clientState":0|1,"nasid",…}`` wrapped as
  ``callback(…)`` when asked (JSONP; Chilli labels it ``text/javascript``): ``challenge`` while
  not authenticated and after a failed logon (a fresh one), ``message`` = the Reply-Message of a
  reject, ``location`` and ``redir`` (with ``logoutURL``), ``session``/``accounting`` once
  authenticated; a RADIUS timeout answers ``clientState`` 0 with no challenge (Chilli's
  ``REDIR_FAILED_TIMEOUT``); ``/json/logon`` without ``username`` answers ``clientState`` 0
  only (a protocol error). A status never spends the challenge.

``ssl`` is Chilli's ``uamuissl`` listener as its redirects name it (``ssl=https://…:4990/``).

Faults: ``md_secret`` signs redirects with another secret (a misconfigured or forged gateway);
``json = False`` is a Chilli built without the JSON interface (``/json/…`` is then an ordinary
unauthenticated request: a 302 ``notyet``, which a JSONP script cannot load).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ac_adapters.gateways.chilli import chilli_quote, redirect_md
from tests.fakes.hotspot_nas import HotspotClient, HotspotNas

__all__ = ["FakeChilli"]


class FakeChilli(HotspotNas):
    def __init__(self, *, uamsecret: str, uamserver: str, md_secret: str | None = None, json: bool = True,
                 ssl: str = "", **nas: Any) -> None:
        super().__init__(**nas)
        self.json, self.ssl = json, ssl
        self.json_requests: list[str] = []
        self.uamsecret, self.md_secret = uamsecret, md_secret if md_secret is not None else uamsecret
        self.uamserver = uamserver
        self.uamip, self.uamport = self.http_ip, self.http_port

    def redirect_url(self, client: HotspotClient, res: str, userurl: str = "", reply: str = "") -> str:
        items = [("res", res), ("uamip", self.uamip), ("uamport", str(self.uamport))]
        if res in ("notyet", "failed"):
            # Chilli keeps a client's challenge until a logon spends it (or challengetimeout):
            # another notyet redirect, or a JSON status, names the same one.
            client.challenge = client.challenge or os.urandom(16).hex()
            items.append(("challenge", client.challenge))
        items += [("called", "02-00-00-00-00-01"), ("mac", self.calling_station(client)), ("ip", client.ip)]
        if reply:
            items.append(("reply", reply))
        session = client.session_id or f"{int(time.time()):08x}00000001"
        items += [("nasid", self.nasid), ("sessionid", session)]
        if self.ssl:           # uamuissl: Chilli names its HTTPS listener (after sessionid, signed)
            items.append(("ssl", self.ssl))
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
        elif url.path.startswith("/json/") and self.json:
            self.json_requests.append(h.path)
            self._json(h, client, url.path[len("/json/"):], query)
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

    def _json(self, h: BaseHTTPRequestHandler, client: HotspotClient, path: str,
              query: dict[str, str]) -> None:
        """One JSON-interface request → Chilli's JSON object (JSONP with ``callback``)."""
        userurl = query.get("userurl", "")
        if path in ("logon", "login"):
            if not query.get("username"):
                body: dict[str, Any] = self._json_body(client, "error", userurl)
            elif client.authenticated:
                body = self._json_body(client, "already", userurl)
            else:
                res, reply = self._attempt(client, query)
                body = self._json_body(client, res, userurl, reply)
        elif path in ("logoff", "logout"):
            if client.authenticated:
                self.account(client, "Stop")
                client.authenticated = False
            body = self._json_body(client, "logoff", userurl)
        else:                                              # status (and anything else)
            body = self._json_body(client, "status", userurl)
        text = json.dumps(body, separators=(",", ":"))
        callback = query.get("callback", "")
        self.reply(h, 200, f"{callback}({text})" if callback else text, "text/javascript")

    def _json_body(self, client: HotspotClient, res: str, userurl: str, reply: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"version": "1.0", "clientState": 1 if client.authenticated else 0,
                                "nasid": self.nasid}
        if reply:
            body["message"] = reply
        online = client.authenticated and res in ("status", "success", "already")
        if res in ("status", "logoff", "failed") and not online:
            client.challenge = client.challenge or os.urandom(16).hex()
            body["challenge"] = client.challenge
        if res == "status" and not online:
            body["location"] = {"name": ""}
        if res in ("status", "success", "failed"):
            body["redir"] = {"originalURL": userurl, "redirectionURL": "",
                             "logoutURL": f"http://{self.uamip}:{self.uamport}/logoff",
                             "ipAddress": client.ip, "macAddress": self.calling_station(client)}
        if online or res == "logoff":
            body["session"] = {"sessionId": client.session_id, "userName": client.username,
                               "startTime": int(time.time()), "sessionTimeout": 0, "terminateTime": 0,
                               "idleTimeout": 0}
            body["accounting"] = {"sessionTime": 0, "idleTime": 0, "inputOctets": 0, "outputOctets": 0}
        return body

    def _attempt(self, client: HotspotClient, query: dict[str, str]) -> tuple[str, str]:
        """A logon with the client's current challenge → ("success", "") or ("failed", reply) or
        ("timeout", "") (no RADIUS answer: Chilli's JSON then carries no fresh challenge)."""
        challenge, client.challenge = client.challenge, ""     # one logon per challenge
        if not challenge:
            return "failed", "no challenge"
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
        if client.authenticated:
            return "success", ""
        if reply is None:
            return "timeout", ""
        return "failed", self.reply_message(reply)

    def _logon(self, client: HotspotClient, query: dict[str, str]) -> str:
        userurl = query.get("userurl", "")
        if client.authenticated:
            return self.redirect_url(client, "already", userurl)
        res, reply = self._attempt(client, query)
        if res == "success":
            return self.redirect_url(client, "success", userurl)
        return self.redirect_url(client, "failed", userurl, reply or self.reply_message(None))
