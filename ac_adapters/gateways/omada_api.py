"""A small client of the Omada controller's external-portal API (hotspot operator login, then
``extPortal/auth``). Like ``unifi_api``: one client per controller and operator
(:func:`omada_for`), logged in on first use and once more when a call is refused (an expired
session answers with a non-zero ``errorCode``)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import requests

from ac_adapters.gateways.controller import ControllerError

__all__ = ["OmadaController", "OmadaError", "json_answer", "omada_for"]


class OmadaError(ControllerError):
    """The Omada controller refused or could not be reached."""


def json_answer(resp: requests.Response) -> dict[str, Any]:
    """A controller answer as a dict that always has ``errorCode`` (both Omada APIs wrap every
    answer so); a body that is not a JSON object, or an HTTP error, gets a negative code."""
    try:
        answer = resp.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    answer.setdefault("errorCode", -resp.status_code if resp.status_code != 200 else -1)
    return answer


class OmadaController:
    def __init__(self, url: str, password: str, *, timeout: float = 5.0, verify: bool | str = True) -> None:
        parts = urlsplit(url)
        self.user, self.password, self.timeout, self.verify = parts.username or "", password, timeout, verify
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        self.base = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "") + \
            f"/{parts.path.strip('/')}/api/v2/hotspot"
        self._http = requests.Session()
        self._token = ""
        self._lock = threading.Lock()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Csrf-Token": self._token} if self._token else {}
        try:
            resp = self._http.post(self.base + path, json=body, headers=headers, timeout=self.timeout,
                                   verify=self.verify, allow_redirects=False)
        except requests.RequestException as exc:
            raise OmadaError(f"controller unreachable: {type(exc).__name__}", timed_out=True) from None
        return json_answer(resp)

    def _login(self) -> None:
        self._http.cookies.clear()
        self._token = ""
        answer = self._post("/login", {"name": self.user, "password": self.password})
        raw = answer.get("result")
        result: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if answer.get("errorCode") != 0 or not result.get("token"):
            raise OmadaError(f"hotspot login refused ({answer.get('errorCode')} {answer.get('msg', '')})")
        self._token = str(result["token"])

    def authorize(self, payload: dict[str, Any]) -> None:
        with self._lock:
            if not self._token:
                self._login()
            answer = self._post("/extPortal/auth", payload)
            if answer.get("errorCode") != 0:          # the session may have expired: once more
                self._login()
                answer = self._post("/extPortal/auth", payload)
            if answer.get("errorCode") != 0:
                raise OmadaError(f"extPortal/auth: {answer.get('errorCode')} {answer.get('msg', '')}")


_clients: dict[tuple[str, str], OmadaController] = {}
_clients_lock = threading.Lock()


def omada_for(url: str, password: str, *, timeout: float = 5.0) -> OmadaController:
    with _clients_lock:
        client = _clients.get((url, password))
        if client is None:
            client = _clients[(url, password)] = OmadaController(url, password, timeout=timeout)
        return client
