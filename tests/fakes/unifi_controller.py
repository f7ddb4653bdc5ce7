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
* ``POST /api/s/<site>/stat/guest`` ``{"within": hours}``: the guests authorised within that
  many hours, current and ended, each ``{"mac", "ap_mac", "start", "end", "expired",
  "tx_bytes", "rx_bytes", "bytes", "minutes", …}``; ``unauthorize-guest`` ends a guest (kept in
  the list, ``expired``) as the controller does, and an authorisation's ``end`` passing expires it.
* :meth:`FakeUnifiController.use` adds traffic to a guest's counters; a guest over its ``bytes``
  cap (MB) is expired, as the controller cuts it off. :meth:`expire_guest` ends it now.
* :meth:`FakeUnifiController.expire_sessions` ends every login session, as the controller does
  after its idle timeout; ``down = True`` drops every connection unanswered (a controller down).
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
_STAT_GUEST = re.compile(r"^/api/s/([^/]+)/stat/guest$")


class FakeUnifiController:
    def __init__(self, *, user: str, password: str, sites: tuple[str, ...] = ("default",),
                 unifi_os: bool = False) -> None:
        self.user, self.password, self.sites, self.unifi_os = user, password, set(sites), unifi_os
        self.prefix = "/proxy/network" if unifi_os else ""
        self.sessions: dict[str, str] = {}          # session cookie → its CSRF token
        self.guests: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in sites}   # authorised
        self.ended: dict[str, list[dict[str, Any]]] = {s: [] for s in sites}          # history
        self.down = False
        self.polls = 0
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

    def use(self, site: str, mac: str, *, rx: int = 0, tx: int = 0) -> None:
        """Traffic of an authorised guest: ``rx`` from it, ``tx`` to it (bytes)."""
        with self._lock:
            guest = self.guests[site][mac]
            guest["rx_bytes"] += rx
            guest["tx_bytes"] += tx
            guest["bytes"] = guest["rx_bytes"] + guest["tx_bytes"]
            cap = guest.get("qos_usage_quota")
            if cap and guest["bytes"] >= cap * 1_000_000:
                self._end(site, mac, int(time.time()))

    def expire_guest(self, site: str, mac: str, *, ago: int = 0) -> None:
        with self._lock:
            self._end(site, mac, int(time.time()) - ago)

    def _end(self, site: str, mac: str, at: int) -> None:
        guest = self.guests[site].pop(mac, None)
        if guest is not None:
            self.ended[site].append({**guest, "end": min(guest["end"], at), "expired": True})

    def _expire_due(self, site: str, now: int) -> None:
        for mac in [m for m, g in self.guests[site].items() if g["end"] <= now]:
            self._end(site, mac, now)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        if self.down:                  # a controller down: the connection closes unanswered
            h.close_connection = True
            h.wfile.flush()
            h.connection.shutdown(2)
            return
        try:
            body = json.loads(h.rfile.read(int(h.headers.get("Content-Length", "0") or 0)) or b"{}")
        except ValueError:
            body = {}
        if h.path == ("/api/auth/login" if self.unifi_os else "/api/login"):
            self._login(h, body)
            return
        path = h.path[len(self.prefix):] if h.path.startswith(self.prefix) else ""
        match = _STAMGR.match(path) or _STAT_GUEST.match(path)
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
        elif match.re is _STAT_GUEST:
            self._stat_guest(h, match.group(1), body)
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
            now = int(time.time())
            # The controller's record names the limits qos_* (the cap in MB), "bytes" being the
            # traffic counter; the request's up / down / minutes are kept for the tests to read.
            guest.update({"qos_usage_quota": guest.pop("bytes", 0), "qos_rate_max_up": guest.get("up", 0),
                          "qos_rate_max_down": guest.get("down", 0), "mac": mac, "start": now,
                          "end": now + 60 * minutes, "expired": False, "tx_bytes": 0,
                          "rx_bytes": 0, "bytes": 0})
            with self._lock:
                self._end(site, mac, now)      # a new authorisation replaces the running one
                self.guests[site][mac] = guest
            self._answer(h, 200, "ok", "", data=[dict(guest)])
        elif body.get("cmd") == "unauthorize-guest":
            with self._lock:
                self._end(site, mac, int(time.time()))
            self._answer(h, 200, "ok", "")
        else:
            self._answer(h, 400, "error", "api.err.UnknownCommand")

    def _stat_guest(self, h: BaseHTTPRequestHandler, site: str, body: dict[str, Any]) -> None:
        within = body.get("within", 24 * 365)
        if not isinstance(within, int) or within <= 0:
            self._answer(h, 400, "error", "api.err.InvalidPayload")
            return
        now = int(time.time())
        with self._lock:
            self.polls += 1
            self._expire_due(site, now)
            since = now - 3600 * within
            data = [dict(g) for g in (*self.ended[site], *self.guests[site].values()) if g["end"] >= since]
        self._answer(h, 200, "ok", "", data=data)

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
