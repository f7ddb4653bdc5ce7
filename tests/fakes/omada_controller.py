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

The Open API (TP-Link's "Open API Access Guide", client-credentials mode), when ``openapi`` =
(client id, client secret) is given:

* ``POST /openapi/authorize/token?grant_type=client_credentials`` ``{"omadacId", "client_id",
  "client_secret"}`` → ``{"accessToken", "tokenType", "expiresIn", "refreshToken"}``; wrong
  credentials (or another controller id) answer ``errorCode`` -44106, another grant type -44111.
* ``GET /openapi/v1/<omadacId>/sites`` and ``…/sites/<siteId>/clients`` (``page``, ``pageSize``,
  ``{"totalRows", "currentPage", "currentSize", "data"}``) with ``Authorization:
  AccessToken=…``: no or an unknown token answers -44113, an expired one -44112. A client
  authorised by ``extPortal/auth`` is online with ``trafficUp`` / ``trafficDown`` of its
  current connection and ``uptime``.
* Faults and traffic: :meth:`expire_tokens` (every token issued so far answers -44112),
  :meth:`use` (bytes on the client's connection), :meth:`reconnect` (a new connection: the
  counters restart at 0), :meth:`disconnect` (offline: absent from the list).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeOmadaController"]

_MAC = re.compile(r"^[0-9A-F]{2}(?:-[0-9A-F]{2}){5}$")


class FakeOmadaController:
    def __init__(self, *, user: str, password: str, cid: str, sites: tuple[str, ...],
                 openapi: tuple[str, str] | None = None) -> None:
        self.user, self.password, self.cid, self.sites = user, password, cid, set(sites)
        self.openapi = openapi
        self.site_ids = {s: hashlib.md5(s.encode()).hexdigest()[:24] for s in sites}
        self.tokens: dict[str, bool] = {}          # access token → still valid
        self.token_requests = 0
        self.online: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in sites}
        self.sessions: dict[str, str] = {}
        self.clients: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in sites}
        self.logins = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._openapi_get(self)

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

    # --- Open API: faults and traffic ---------------------------------------------------------

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens = dict.fromkeys(self.tokens, False)

    def use(self, site: str, mac: str, *, up: int = 0, down: int = 0) -> None:
        """Traffic on the client's current connection (``mac`` as Omada writes it)."""
        with self._lock:
            row = self.online[site][mac]
            row["trafficUp"] += up
            row["trafficDown"] += down

    def reconnect(self, site: str, mac: str) -> None:
        with self._lock:
            self.online[site][mac] = self._row(mac)

    def disconnect(self, site: str, mac: str) -> None:
        with self._lock:
            self.online[site].pop(mac, None)

    @staticmethod
    def _row(mac: str) -> dict[str, Any]:
        return {"mac": mac, "trafficUp": 0, "trafficDown": 0, "since": time.time(), "guest": True,
                "active": True, "wireless": True}

    def _token(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        query = parse_qs(urlsplit(h.path).query)
        if query.get("grant_type") != ["client_credentials"]:
            self._answer(h, -44111, "The grant type is invalid.")
            return
        given = (body.get("client_id"), body.get("client_secret"))
        if self.openapi is None or given != self.openapi or body.get("omadacId") != self.cid:
            self._answer(h, -44106, "The client id or client secret is invalid.")
            return
        token = "AT-" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = True
            self.token_requests += 1
        self._answer(h, 0, "Open API Get Access Token successfully.",
                     {"accessToken": token, "tokenType": "bearer", "expiresIn": 7200,
                      "refreshToken": "RT-" + secrets.token_urlsafe(24)})

    def _openapi_get(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        auth = h.headers.get("Authorization", "")
        token = auth[len("AccessToken="):] if auth.startswith("AccessToken=") else ""
        with self._lock:
            valid = self.tokens.get(token)
        if valid is None:
            self._answer(h, -44113, "The access token is Invalid.")
            return
        if not valid:
            self._answer(h, -44112, "The access token has expired.")
            return
        page, size = int(query.get("page", "1")), int(query.get("pageSize", "10"))
        base = f"/openapi/v1/{self.cid}/sites"
        with self._lock:
            if url.path == base:
                rows = [{"siteId": sid, "name": name} for name, sid in sorted(self.site_ids.items())]
            elif url.path.startswith(base + "/") and url.path.endswith("/clients"):
                sid = url.path[len(base) + 1:-len("/clients")]
                name = next((n for n, i in self.site_ids.items() if i == sid), None)
                if name is None:
                    self._answer(h, -1505, "The current user does not have permissions to access this site.")
                    return
                now = time.time()
                rows = [{**{k: v for k, v in r.items() if k != "since"}, "uptime": int(now - r["since"])}
                        for r in self.online[name].values()]
            else:
                self._answer(h, -1, "Not found.")
                return
        chunk = rows[(page - 1) * size:page * size]
        self._answer(h, 0, "Success.", {"totalRows": len(rows), "currentPage": page,
                                        "currentSize": len(chunk), "data": chunk})

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        try:
            body = json.loads(h.rfile.read(int(h.headers.get("Content-Length", "0") or 0)) or b"{}")
        except ValueError:
            body = {}
        base = f"/{self.cid}/api/v2/hotspot"
        if urlsplit(h.path).path == "/openapi/authorize/token":
            self._token(h, body)
        elif h.path == base + "/login":
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
            self.online[site].setdefault(mac, self._row(mac))       # it is connected: it asked
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
