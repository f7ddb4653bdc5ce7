"""A loopback UniFi Network controller API, written from how the controller's API behaves for
its clients (login cookie and CSRF token, the stamgr guest commands, expiring sessions).

* ``POST /api/login`` ``{"username", "password"}``: 200 with cookies ``unifises`` and
  ``csrf_token`` (the token also in the ``X-Csrf-Token`` header); a wrong password answers 400
  ``api.err.Invalid``.
* ``POST /api/s/<site>/cmd/stamgr``: without a live session 401 ``api.err.LoginRequired``;
  without the session's CSRF token in ``X-Csrf-Token`` 403 ``api.err.InvalidCSRFToken``; an
  unknown site 400 ``api.err.NoSiteContext``. ``authorize-guest`` (``mac``, ``minutes`` > 0,
  optional ``up``/``down`` kbit/s, ``bytes`` MB, ``ap_mac``) records the guest;
  ``unauthorize-guest`` removes it. Answers ``{"meta": {"rc": …, "msg": …}, "data": […]}``.
* :meth:`FakeUnifiController.expire_sessions` ends every login session, as the controller does
  after its idle timeout.
* ``unifi_os=True``: a UniFi OS console — login at ``/api/auth/login`` (the token only in the
  ``X-Csrf-Token`` answer header), the API under ``/proxy/network``.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["FakeUnifiController"]

_MAC = re.compile(r"^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$")
_STAMGR = re.compile(r"^/api/s/([^/]+)/cmd/stamgr$")


class FakeUnifiController:
    def __init__(self, *, user: str, password: str, sites: tuple[str, ...] = ("default",),
                 unifi_os: bool = False) -> None:
        self.user, self.password, self.sites, self.unifi_os = user, password, set(sites), unifi_os
        self.prefix = "/proxy/network" if unifi_os else ""
        self.sessions: dict[str, str] = {}          # session cookie → its CSRF token
        self.guests: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in sites}
        self.logins = 0
        self.commands: list[dict[str, Any]] = []
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

    def url(self, user: str | None = None) -> str:
        return f"http://{user or self.user}@127.0.0.1:{self.port}{self.prefix}"

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
        if h.path == ("/api/auth/login" if self.unifi_os else "/api/login"):
            self._login(h, body)
            return
        path = h.path[len(self.prefix):] if h.path.startswith(self.prefix) else ""
        match = _STAMGR.match(path)
        if match is None:
            self._answer(h, 404, "error", "api.err.NotFound")
            return
        cookies = SimpleCookie(h.headers.get("Cookie", ""))
        name = "TOKEN" if self.unifi_os else "unifises"
        session = cookies[name].value if name in cookies else ""
        with self._lock:
            token = self.sessions.get(session)
        if token is None:
            self._answer(h, 401, "error", "api.err.LoginRequired")
        elif h.headers.get("X-Csrf-Token", "") != token:
            self._answer(h, 403, "error", "api.err.InvalidCSRFToken")
        elif match.group(1) not in self.sites:
            self._answer(h, 400, "error", "api.err.NoSiteContext")
        else:
            self._command(h, match.group(1), body)

    def _login(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if body.get("username") != self.user or body.get("password") != self.password:
            self._answer(h, 400, "error", "api.err.Invalid")
            return
        session, token = secrets.token_hex(16), secrets.token_hex(16)
        with self._lock:
            self.sessions[session] = token
            self.logins += 1
        cookies = (("Set-Cookie", f"TOKEN={session}; Path=/; HttpOnly"),) if self.unifi_os else (
            ("Set-Cookie", f"unifises={session}; Path=/; HttpOnly"),
            ("Set-Cookie", f"csrf_token={token}; Path=/"))
        self._answer(h, 200, "ok", "", headers=(*cookies, ("X-Csrf-Token", token)))

    def _command(self, h: BaseHTTPRequestHandler, site: str, body: dict[str, Any]) -> None:
        self.commands.append({"site": site, **body})
        mac = str(body.get("mac", ""))
        if not _MAC.match(mac):
            self._answer(h, 400, "error", "api.err.InvalidMac")
            return
        if body.get("cmd") == "authorize-guest":
            minutes = body.get("minutes")
            if not isinstance(minutes, int) or minutes <= 0:
                self._answer(h, 400, "error", "api.err.InvalidPayload")
                return
            guest = {k: body[k] for k in ("minutes", "up", "down", "bytes", "ap_mac") if k in body}
            guest["end"] = int(time.time()) + 60 * minutes
            with self._lock:
                self.guests[site][mac] = guest
            self._answer(h, 200, "ok", "", data=[{"mac": mac, **guest}])
        elif body.get("cmd") == "unauthorize-guest":
            with self._lock:
                self.guests[site].pop(mac, None)
            self._answer(h, 200, "ok", "")
        else:
            self._answer(h, 400, "error", "api.err.UnknownCommand")

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int, rc: str, msg: str, *,
                data: list[Any] | None = None, headers: tuple[tuple[str, str], ...] = ()) -> None:
        raw = json.dumps({"meta": {"rc": rc, **({"msg": msg} if msg else {})}, "data": data or []}).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        for name, value in headers:
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(raw)
