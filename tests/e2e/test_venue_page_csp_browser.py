"""In Chromium, a page under the venue-page CSP cannot navigate the phone away or leak to other hosts.

The server here sends :func:`portal.web.phone.venue_csp.venue_page_csp` exactly as the phone view does with
a hostile venue page: a script and a ``<meta refresh>`` that navigate away, an image on another
origin. A ``srcdoc`` ad frame and same-site images must still load.
"""
from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from portal.web.phone.venue_csp import venue_page_csp

HOSTILE = """<!doctype html><html><body><p id="venue">venue</p>
<iframe sandbox srcdoc="&lt;img src='/from-ad-frame.png'&gt;"></iframe>
<img src="/same-site.png"><img src="http://localhost:{port}/other-origin.png?s=token">
<script>top.location = "/evil-by-script?s=token"</script>
<meta http-equiv="refresh" content="0;url=/evil-by-refresh?s=token">
</body></html>"""


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            if self.path == "/":
                body = HOSTILE.format(port=self.server.server_port).encode()
                self.send_header("Content-Security-Policy", venue_page_csp(["library.example.cn"]))
                self.send_header("Content-Type", "text/html; charset=utf-8")
            else:
                body = b""
                self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_hostile_venue_page_stays_put_and_loads_only_same_site(browser: Any,
                                                              server: tuple[str, list[str]]) -> None:
    url, seen = server
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and "/from-ad-frame.png" not in seen:
            page.wait_for_timeout(100)
        page.wait_for_timeout(500)       # time for a refresh / script navigation to happen
        assert page.url == url and page.locator("#venue").count() == 1
        assert "/same-site.png" in seen and "/from-ad-frame.png" in seen, seen
        assert not any(p.startswith(("/evil", "/other-origin")) for p in seen), seen
    finally:
        context.close()
