"""The shipped nginx config in front of a real ``citywifi web``
is the set-up the README requires — and it holds.

* A phone's own X-Forwarded-For is overwritten by nginx; the app believes nginx (a trusted proxy)
  and so sees the phone's real address, never the victim it named.
* ``/metrics`` and the consoles are not served on the phones' side.
* 200 connections that send their headers slowly are held (and cut) by nginx; the portal keeps
  answering. (Straight to gunicorn, a few dozen such connections stop it: hence the requirement
  and the refusal to listen publicly without a trusted proxy, tested in test_proxy_trust.py.)

Real nginx (Debian's) with deploy/nginx/*.conf, only listen addresses, ports and file paths
changed; 127.0.0.3 is the portal address, phones connect from 127.0.0.5-127.0.0.7.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.state import keys
from tests.conftest import free_tcp_port
from tests.security.webproc import ROOT, request, running_web

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = pytest.mark.skipif(NGINX is None,
                                reason="nginx not installed (scripts/test.sh installs nginx-light)")

PORTAL = "127.0.0.3"
PHONE = "127.0.0.5"


def _self_signed(tls: Path) -> None:
    from tests.deploy.test_deploy_files import _self_signed as make

    make(tls / "console.crt", tls / "console.key")
    make(tls / "portal.crt", tls / "portal.key")


@contextlib.contextmanager
def shipped_nginx(tmp: Path, upstream_port: int) -> Iterator[tuple[int, int]]:
    """deploy/nginx as shipped, on 127.0.0.3:<port> in front of gunicorn on 127.0.0.1:<upstream>:
    (portal http port, portal TLS port)."""
    portal_port, http_port, tls_port = free_tcp_port(PORTAL), free_tcp_port(PORTAL), free_tcp_port(PORTAL)
    portal_tls_port = free_tcp_port(PORTAL)
    tls = tmp / "tls"
    tls.mkdir()
    _self_signed(tls)
    proxy = tmp / "citywifi-proxy.conf"
    shutil.copy(ROOT / "deploy" / "nginx" / "citywifi-proxy.conf", proxy)
    site = (ROOT / "deploy" / "nginx" / "citywifi.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/citywifi/tls", str(tls)).replace("/etc/nginx/citywifi-proxy.conf", str(proxy))
    site = site.replace("server 127.0.0.1:8080", f"server 127.0.0.1:{upstream_port}")
    site = site.replace("listen 10.0.0.1:80 default_server;",
                        f"listen {PORTAL}:{portal_port} default_server;")
    site = site.replace("listen 10.0.0.1:443 ssl default_server;",
                        f"listen {PORTAL}:{portal_tls_port} ssl default_server;")
    site = re.sub(r"(?m)^\s*listen \[::\]:\d+.*$", "", site)
    site = site.replace("listen 80;", f"listen {PORTAL}:{http_port};")
    site = site.replace("listen 443 ssl http2;", f"listen {PORTAL}:{tls_port} ssl http2;")
    (tmp / "site.conf").write_text(site, encoding="utf-8")
    temp = "".join(f"  {kind}_temp_path {tmp}/{kind};\n" for kind in
                   ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(
        f"user root;\ndaemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
        f"events {{ worker_connections 2048; }}\n"
        f"http {{\n  access_log off;\n{temp}  include {tmp}/site.conf;\n}}\n", encoding="utf-8")
    assert NGINX is not None
    proc = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection((PORTAL, portal_port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("nginx did not start: " + (proc.stderr.read() if proc.stderr else "")
                                         + (tmp / "error.log").read_text()) from None
                time.sleep(0.05)
        yield portal_port, portal_tls_port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def stack(redis_url: str, redis_client: Any, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """(nginx portal port, gunicorn port): citywifi web configured as the README says."""
    web_port = free_tcp_port()
    env = {"CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(tmp_path / "data"),
           "CITYWIFI_WEB_SECRET_KEY": "n" * 32, "CITYWIFI_WEB_PUBLIC_URL": "http://10.0.0.1",
           "CITYWIFI_WEB_PROXY_HOPS": "1", "CITYWIFI_WEB_TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
           "CITYWIFI_LOG_LEVEL": "WARNING"}
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    with running_web(env, port=web_port), shipped_nginx(nginx_dir, web_port) as (portal_port, _):
        yield portal_port, web_port


def test_the_portal_and_the_captive_api_are_served_over_tls(
        redis_url: str, redis_client: Any, tmp_path: Path) -> None:
    """RFC 8908: the API and the user-portal-url it names must be https. The
    shipped nginx serves the portal over TLS too, and the app sees the scheme nginx saw."""
    web_port = free_tcp_port()
    env = {"CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(tmp_path / "data"),
           "CITYWIFI_WEB_SECRET_KEY": "n" * 32, "CITYWIFI_WEB_PUBLIC_URL": "https://portal.citywifi.example.cn",
           "CITYWIFI_WEB_PROXY_HOPS": "1", "CITYWIFI_WEB_TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
           "CITYWIFI_LOG_LEVEL": "WARNING"}
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    with running_web(env, port=web_port), shipped_nginx(nginx_dir, web_port) as (_, tls_port):
        def get(path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
            context = ssl.create_default_context(cafile=str(nginx_dir / "tls" / "portal.crt"))
            context.check_hostname = False      # the throwaway certificate names the console host
            conn = http.client.HTTPSConnection(PORTAL, tls_port, timeout=10, context=context,
                                               source_address=(PHONE, 0))
            try:
                conn.request("GET", path, headers={"Host": "portal.citywifi.example.cn", **(headers or {})})
                resp = conn.getresponse()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
            finally:
                conn.close()

        status, headers, body = get("/api/captive", {"Accept": "application/captive+json"})
        assert status == 200 and headers["content-type"] == "application/captive+json"
        assert json.loads(body) == {"captive": True, "user-portal-url": "https://portal.citywifi.example.cn/portal"}
        status, headers, body = get("/generate_204")
        assert status == 302 and headers["location"] == "https://portal.citywifi.example.cn/portal"
        status, _, body = get("/portal")
        assert status == 200 and 'id="help"' in body        # nothing known about this phone yet
        # The consoles stay off the phones' side, over TLS as over http.
        assert get("/noc")[0] == 404 and get("/metrics")[0] == 404


def _online(redis_client: Any, ip: str, phone: str) -> None:
    redis_client.hset(keys.portal_login("ac1", ip), mapping={
        "phone": phone, "mac": "", "plan": "basic", "venue": "none", "ssid": "CityWiFi", "ap": "",
        "at": f"{time.time():.3f}", "kind": "sms"})
    redis_client.set(keys.login_by_ip(ip), "ac1")


def test_behind_nginx_the_app_sees_the_phone_not_the_address_it_claims(
        stack: tuple[int, int], redis_client: Any) -> None:
    portal, _ = stack
    _online(redis_client, "10.20.0.7", "18900000001")     # the victim
    _online(redis_client, PHONE, "18900000002")           # the phone itself
    reply = request(portal, "GET", "/portal/status", source=PHONE, host=PORTAL,
                    headers={"X-Forwarded-For": "10.20.0.7", "X-Real-IP": "10.20.0.7"})
    assert reply.status == 200
    assert "189****0002" in reply.body and "189****0001" not in reply.body
    # The phones' side serves neither /metrics nor the consoles.
    assert request(portal, "GET", "/metrics", source=PHONE, host=PORTAL).status == 404
    assert request(portal, "GET", "/noc", source=PHONE, host=PORTAL).status == 404


def _slow_clients(port: int, count: int, source: str) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind((source, 0))
        s.settimeout(5)
        s.connect((PORTAL, port))
        s.sendall(b"GET /portal HTTP/1.1\r\nHost: 10.0.0.1\r\n")     # headers never finished
        socks.append(s)
    return socks


def test_slow_header_connections_do_not_stop_the_portal(stack: tuple[int, int]) -> None:
    portal, _ = stack
    slow = _slow_clients(portal, 100, "127.0.0.6") + _slow_clients(portal, 100, "127.0.0.7")
    try:
        worst = 0.0
        for round_ in range(5):
            for s in slow:                                  # keep them alive, one header line a time
                with contextlib.suppress(OSError):
                    s.sendall(f"X-Slow-{round_}: 1\r\n".encode())
            started = time.monotonic()
            reply = request(portal, "GET", "/portal/status", source=PHONE, host=PORTAL, timeout=5)
            worst = max(worst, time.monotonic() - started)
            assert reply.status == 200
            time.sleep(0.5)
        assert worst < 2.0, f"a phone waited {worst:.2f} s behind 200 slow-header connections"
    finally:
        for s in slow:
            s.close()
