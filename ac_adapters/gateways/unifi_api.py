"""A small client of the UniFi controller's API: log in, authorise / unauthorise a guest, and
list the authorised guests with their usage (``portal/aaa/controller_usage.py`` polls it).

One :class:`UnifiController` per controller URL and user, shared by the threads of a process
(:func:`controller_for`): it logs in on first use, keeps the session cookie and CSRF token, and
logs in again once when the controller says the session expired (HTTP 401). Every failure is a
:class:`UnifiError`: ``timed_out`` for the network, else the controller's ``meta.msg``.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import requests

from ac_adapters.gateways.controller import ControllerError

__all__ = ["UnifiController", "UnifiError", "controller_for"]


class UnifiError(ControllerError):
    """The UniFi controller refused or could not be reached."""


class UnifiController:
    def __init__(self, url: str, password: str, *, timeout: float = 5.0, verify: bool | str = True) -> None:
        parts = urlsplit(url)
        self.user = parts.username or ""
        netloc = parts.hostname or ""
        netloc = f"[{netloc}]" if ":" in netloc else netloc
        origin = f"{parts.scheme}://{netloc}" + (f":{parts.port}" if parts.port else "")
        self.unifi_os = parts.path.rstrip("/") == "/proxy/network"
        self.api_base = origin + ("/proxy/network" if self.unifi_os else "")
        self.login_url = origin + ("/api/auth/login" if self.unifi_os else "/api/login")
        self.password, self.timeout, self.verify = password, timeout, verify
        self._http = requests.Session()
        self._csrf = ""
        self._logged_in = False
        self._lock = threading.Lock()

    def _post(self, url: str, body: dict[str, Any]) -> requests.Response:
        headers = {"X-Csrf-Token": self._csrf} if self._csrf else {}
        try:
            return self._http.post(url, json=body, headers=headers, timeout=self.timeout, verify=self.verify)
        except requests.RequestException as exc:
            raise UnifiError(f"controller unreachable: {type(exc).__name__}", timed_out=True) from None

    def _login(self) -> None:
        self._http.cookies.clear()
        self._csrf = ""
        resp = self._post(self.login_url, {"username": self.user, "password": self.password})
        if resp.status_code != 200:
            raise UnifiError(f"login refused ({resp.status_code} {_msg(resp)})")
        # Current releases want the token back in a header (cookie csrf_token, or the answer's
        # X-Csrf-Token header on UniFi OS); older ones need none.
        self._csrf = resp.headers.get("X-Csrf-Token") or self._http.cookies.get("csrf_token") or ""
        self._logged_in = True

    def command(self, site: str, payload: dict[str, Any]) -> list[Any]:
        """``POST /api/s/<site>/cmd/stamgr``; the ``data`` of an ``ok`` answer."""
        return self._call(f"/api/s/{site}/cmd/stamgr", payload, str(payload.get("cmd")))

    def guests(self, site: str, within_hours: int = 24) -> list[dict[str, Any]]:
        """``POST /api/s/<site>/stat/guest`` ``{"within": hours}``: the guests authorised within
        that many hours, each with ``mac``, ``start`` / ``end`` (epoch seconds), ``expired`` and
        the controller's byte counters ``tx_bytes`` / ``rx_bytes`` for the authorisation."""
        data = self._call(f"/api/s/{site}/stat/guest", {"within": int(within_hours)}, "stat/guest")
        return [g for g in data if isinstance(g, dict)]

    def _call(self, path: str, payload: dict[str, Any], what: str) -> list[Any]:
        url = self.api_base + path
        with self._lock:
            if not self._logged_in:
                self._login()
            resp = self._post(url, payload)
            if resp.status_code == 401:          # the session expired: once more, logged in anew
                self._login()
                resp = self._post(url, payload)
            try:
                body = resp.json()
            except ValueError:
                body = {}
            meta = body.get("meta", {}) if isinstance(body, dict) else {}
            if resp.status_code != 200 or meta.get("rc") != "ok":
                if resp.status_code == 401:
                    self._logged_in = False
                why = meta.get("msg", "") or _msg(resp)
                raise UnifiError(f"{what}: {resp.status_code} {why}")
            data = body.get("data", [])
            return data if isinstance(data, list) else []

    def authorize(self, site: str, payload: dict[str, Any]) -> list[Any]:
        return self.command(site, payload)

    def unauthorize(self, site: str, mac: str) -> list[Any]:
        return self.command(site, {"cmd": "unauthorize-guest", "mac": mac})


def _msg(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.reason or ""
    meta = body.get("meta", {}) if isinstance(body, dict) else {}
    return str(meta.get("msg", "")) if isinstance(meta, dict) else ""


_controllers: dict[tuple[str, str], UnifiController] = {}
_controllers_lock = threading.Lock()


def controller_for(url: str, password: str, *, timeout: float = 5.0) -> UnifiController:
    """The process's client of this controller (a changed password makes a new one)."""
    with _controllers_lock:
        client = _controllers.get((url, password))
        if client is None:
            client = _controllers[(url, password)] = UnifiController(url, password, timeout=timeout)
        return client
