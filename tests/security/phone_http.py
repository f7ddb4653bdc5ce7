"""Phones and attackers over real HTTP, each from its own loopback address.

Linux routes all of 127.0.0.0/8 to the loopback interface, so a client socket bound to
127.0.10.2 reaches a server on 127.0.0.1 and the server sees 127.0.10.2 as its peer: exactly
what a Layer-3 portal sees of a phone. :class:`Client` keeps its own cookie jar (or none), never
follows redirects, and can send any header (an ``Origin`` of a third-party page).
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.e2e.stack import Stack, serve_app, stack_app

__all__ = ["Client", "Page", "field_value", "serve"]


@dataclass
class Page:
    status: int
    text: str
    headers: http.client.HTTPMessage

    @property
    def error_code(self) -> str:
        m = re.search(r'data-code="([^"]*)"', self.text)
        return m.group(1) if m else ""

    @property
    def success(self) -> bool:
        return self.status == 200 and 'id="success"' in self.text


def field_value(html: str, name: str) -> str:
    """The value of the hidden/filled input ``name`` ("" when the page has none)."""
    m = re.search(rf'name="{name}"[^>]*? value="([^"]*)"', html)
    return m.group(1).replace("&amp;", "&") if m else ""


@dataclass
class Client:
    """One browser (or script) at one address. ``cookies=False``: a client that drops them."""

    base: str                      # http://127.0.0.1:port
    source: str                    # the address it connects from
    lang: str = "zh-CN"
    keep_cookies: bool = True
    jar: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)     # cookie name → its Path (as a browser)

    def request(self, method: str, url: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Page:
        parts = urlsplit(url if "://" in url else self.base + url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                          source_address=(self.source, 0), timeout=60)
        sent = {"Accept-Language": self.lang, **(headers or {})}
        cookies = [f"{k}={v}" for k, v in self.jar.items() if parts.path.startswith(self.paths.get(k, "/"))]
        if cookies:
            sent["Cookie"] = "; ".join(cookies)
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body, sent)
            resp = conn.getresponse()
            page = Page(resp.status, resp.read().decode("utf-8", "replace"), resp.headers)
        finally:
            conn.close()
        if self.keep_cookies:
            for raw in page.headers.get_all("Set-Cookie") or []:
                name, _, rest = raw.partition("=")
                value, *attrs = rest.split(";")
                self.jar[name.strip()] = value
                for attr in attrs:
                    key, _, val = attr.strip().partition("=")
                    if key.lower() == "path":
                        self.paths[name.strip()] = val or "/"
        return page

    def get(self, url: str, **kw: Any) -> Page:
        return self.request("GET", url, **kw)

    def post(self, url: str, form: dict[str, str], **kw: Any) -> Page:
        return self.request("POST", url, form, **kw)


@contextmanager
def serve(stack: Stack) -> Iterator[str]:
    """The portal app on a real threaded HTTP server bound to 127.0.0.1 (all of 127/8 reaches it)."""
    with serve_app(stack_app(stack)) as url:
        yield url
