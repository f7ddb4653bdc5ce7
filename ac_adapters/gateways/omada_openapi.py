"""A small client of the Omada controller's Open API (client-credentials mode): the site's
clients with their traffic, for usage polling (``portal/aaa/omada_usage.py``).

Facts from TP-Link's "Open API Access Guide" (Omada SDN Controller 5.x, Settings > Platform
Integration > Open API):

* The operator creates an application there in **client mode**; it has a client ID and a
  client secret, and the controller's Omada ID (``omadacId``) is shown with it.
* ``POST /openapi/authorize/token?grant_type=client_credentials`` with the JSON body
  ``{"omadacId", "client_id", "client_secret"}`` → ``{"errorCode": 0, "result": {"accessToken",
  "tokenType": "bearer", "expiresIn": 7200, "refreshToken"}}``; wrong credentials answer
  ``errorCode`` -44106 ("The client id or client secret is invalid").
* Every call carries ``Authorization: AccessToken=<accessToken>``. An expired token answers
  ``errorCode`` -44112, an invalid one -44113 (also after the application was changed): a new
  token is then requested with the same credentials (client mode needs no refresh token).
* ``GET /openapi/v1/<omadacId>/sites?page=1&pageSize=…`` lists ``{"siteId", "name"}``;
  ``GET /openapi/v1/<omadacId>/sites/<siteId>/clients?page=…&pageSize=…`` the site's online
  clients, ``result = {"totalRows", "currentPage", "data": [{"mac", "trafficDown", "trafficUp",
  "uptime", "guest", "active", …}]}``: ``trafficDown`` / ``trafficUp`` are the client's bytes
  downloaded / uploaded on its current connection (they restart when it reconnects), ``uptime``
  its seconds connected. MACs are written ``AA-BB-CC-DD-EE-FF``.

One :class:`OmadaOpenApi` per controller and application (:func:`openapi_for`), shared by the
threads of a process; every failure is an :class:`~ac_adapters.gateways.omada_api.OmadaError`.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from ac_adapters.gateways.omada_api import OmadaError, json_answer
from ac_adapters.redirect import normalise_mac

__all__ = ["TOKEN_ERRORS", "OmadaOpenApi", "openapi_for", "split_credential"]

TOKEN_ERRORS = (-44112, -44113)      # expired / invalid access token: ask for a new one, once
_PAGE = 500


def split_credential(value: str) -> tuple[str, str]:
    """``<client_id>:<client_secret>`` → the two halves ("" when malformed)."""
    client_id, _, secret = value.partition(":")
    return (client_id, secret) if client_id and secret else ("", "")


class OmadaOpenApi:
    def __init__(self, controller_url: str, credential: str, *, timeout: float = 5.0,
                 verify: bool | str = True) -> None:
        parts = urlsplit(controller_url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        self.origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
        self.cid = parts.path.strip("/")
        self.client_id, self.client_secret = split_credential(credential)
        self.timeout, self.verify = timeout, verify
        self._http = requests.Session()
        self._token, self._expires = "", 0.0
        self._sites: dict[str, str] = {}
        self._lock = threading.Lock()

    def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                 body: dict[str, Any] | None = None, token: bool = True) -> dict[str, Any]:
        headers = {"Authorization": f"AccessToken={self._token}"} if token else {}
        try:
            resp = self._http.request(method, self.origin + path, params=params, json=body, headers=headers,
                                      timeout=self.timeout, verify=self.verify, allow_redirects=False)
        except requests.RequestException as exc:
            raise OmadaError(f"Open API unreachable: {type(exc).__name__}", timed_out=True) from None
        answer = json_answer(resp)
        if resp.status_code == 401:
            answer["errorCode"] = TOKEN_ERRORS[1]
        return answer

    def _new_token(self) -> None:
        if not self.client_id:
            raise OmadaError("no Open API credential (<client_id>:<client_secret>) on the entry")
        body = {"omadacId": self.cid, "client_id": self.client_id, "client_secret": self.client_secret}
        answer = self._request("POST", "/openapi/authorize/token",
                               params={"grant_type": "client_credentials"}, body=body, token=False)
        raw = answer.get("result")
        result: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if answer.get("errorCode") != 0 or not result.get("accessToken"):
            raise OmadaError(f"Open API token refused ({answer.get('errorCode')} {answer.get('msg', '')})")
        self._token = str(result["accessToken"])
        self._expires = time.monotonic() + max(60, int(result.get("expiresIn") or 7200)) - 60

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """A GET's ``result``; a token the controller calls expired or invalid is replaced once."""
        if not self._token or time.monotonic() >= self._expires:
            self._new_token()
        answer = self._request("GET", path, params=params)
        if answer.get("errorCode") in TOKEN_ERRORS:
            self._new_token()
            answer = self._request("GET", path, params=params)
        if answer.get("errorCode") != 0:
            raise OmadaError(f"Open API {path.rsplit('/', 1)[-1]}: {answer.get('errorCode')} "
                             f"{answer.get('msg', '')}")
        result = answer.get("result")
        return result if isinstance(result, dict) else {}

    def _pages(self, path: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in range(1, 1000):
            result = self._get(path, {"page": page, "pageSize": _PAGE})
            data = [r for r in result.get("data") or [] if isinstance(r, dict)]
            rows += data
            if not data or len(rows) >= int(result.get("totalRows") or 0):
                break
        return rows

    def site_id(self, site: str) -> str:
        """The Open API's id of ``site`` (our entry's name: the site's id or its name)."""
        if site not in self._sites:
            for row in self._pages(f"/openapi/v1/{self.cid}/sites"):
                for key in (str(row.get("siteId", "")), str(row.get("name", ""))):
                    if key:
                        self._sites[key] = str(row.get("siteId", ""))
        if site not in self._sites:
            raise OmadaError(f"Open API: no site {site!r} on this controller (or not visible to the "
                             "application)")
        return self._sites[site]

    def clients(self, site: str) -> dict[str, dict[str, Any]]:
        """The site's online clients by MAC (aa:bb:…): ``trafficUp``, ``trafficDown``, ``uptime``."""
        with self._lock:
            rows = self._pages(f"/openapi/v1/{self.cid}/sites/{self.site_id(site)}/clients")
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            mac = normalise_mac(str(row.get("mac", "")))
            if mac is not None:
                out[mac] = row
        return out


_clients: dict[tuple[str, str], OmadaOpenApi] = {}
_clients_lock = threading.Lock()


def openapi_for(controller_url: str, credential: str, *, timeout: float = 5.0) -> OmadaOpenApi:
    with _clients_lock:
        client = _clients.get((controller_url, credential))
        if client is None:
            client = _clients[(controller_url, credential)] = OmadaOpenApi(controller_url, credential,
                                                                           timeout=timeout)
        return client
