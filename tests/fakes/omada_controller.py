"""A loopback Omada SDN controller's external-portal API (5.x), written from TP-Link's "API and
Code Sample for External Portal Server": hotspot operator login, then ``extPortal/auth``.

* ``POST /<omadacId>/api/v2/hotspot/login`` ``{"name", "password"}`` → ``{"errorCode": 0,
  "result": {"token"}}`` and a ``TPOMADA_SESSIONID`` cookie; a wrong password answers
  ``errorCode`` -30109. Another controller id answers 302 (as a controller does for unknown paths).
* ``POST /<omadacId>/api/v2/hotspot/extPortal/auth`` needs the session cookie and its token in
  ``Csrf-Token`` (else ``errorCode`` -1, "login required"); the body must carry ``clientMac``,
  ``site``, ``authType`` 4, ``time`` > 0 (microseconds) and either ``apMac``/``ssidName``/
  ``radioId`` or ``gatewayMac``/``vid``; an unknown site answers -41501 "Failed to authenticate".
* :meth:`FakeOmadaController.expire_sessions` ends every operator session.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["FakeOmadaController"]

_MAC = re.compile(r"^[0-9A-F]{2}(?:-[0-9A-F]{2}){5}$")


class FakeOmadaController:
    def __init__(self, *, user: str, password: str, cid: str, sites: tuple[str, ...]) -> None:
        self.user, self.password, self.cid, self.sites = user, password, cid, set(sites)
        self.sessions: dict[str, str] = {}
        self.clients: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in sites}
        self.logins = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.http.server_address[1])
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def url(self, cid: str | None = None) -> str:
        return f"http://{self.user}@127.0.0.1:{self.port}/{cid or self.cid}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def expire_sessions(self) -> None:
        with self._lock:
            self.sessions.clear()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        try:
            body = json.loads(h.rfile.read(int(h.headers.get("Content-Length", "0") or 0)) or b"{}")
        except ValueError:
            body = {}
        base = f"/{self.cid}/api/v2/hotspot"
        if h.path == base + "/login":
            self._login(h, body)
        elif h.path == base + "/extPortal/auth":
            self._auth(h, body)
        else:
            h.send_response(302)
            h.send_header("Location", "/login")
            h.send_header("Content-Length", "0")
            h.end_headers()

    def _login(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if body.get("name") != self.user or body.get("password") != self.password:
            self._answer(h, -30109, "Invalid username or password.")
            return
        session, token = secrets.token_hex(16), secrets.token_hex(16)
        with self._lock:
            self.sessions[session] = token
            self.logins += 1
        self._answer(h, 0, "Hotspot log in successfully.", {"token": token},
                     cookie=f"TPOMADA_SESSIONID={session}; Path=/; HttpOnly")

    def _auth(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        cookies = SimpleCookie(h.headers.get("Cookie", ""))
        session = cookies["TPOMADA_SESSIONID"].value if "TPOMADA_SESSIONID" in cookies else ""
        with self._lock:
            token = self.sessions.get(session)
        if token is None or h.headers.get("Csrf-Token") != token:
            self._answer(h, -1, "Login required.")
            return
        mac, site = str(body.get("clientMac", "")), str(body.get("site", ""))
        wireless = all(k in body for k in ("apMac", "ssidName", "radioId"))
        wired = all(k in body for k in ("gatewayMac", "vid"))
        time_us = body.get("time")
        if (not _MAC.match(mac) or body.get("authType") != 4 or not isinstance(time_us, int) or time_us <= 0
                or not (wireless or wired)):
            self._answer(h, -1001, "Invalid request parameters.")
            return
        if site not in self.sites:
            self._answer(h, -41501, "Failed to authenticate.")
            return
        with self._lock:
            self.clients[site][mac] = {k: v for k, v in body.items() if k not in ("clientMac", "site")}
        self._answer(h, 0, "Success.")

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, code: int, msg: str, result: Any = None, *,
                cookie: str = "") -> None:
        raw = json.dumps({"errorCode": code, "msg": msg, **({"result": result} if result else {})}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        if cookie:
            h.send_header("Set-Cookie", cookie)
        h.end_headers()
        h.wfile.write(raw)
