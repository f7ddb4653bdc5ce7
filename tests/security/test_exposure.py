"""What the web process and the shipped Redis configs expose by default (ad clicks are
tested elsewhere), and that no page can be framed by another site.

* ``/metrics`` on the phone-facing web answered anyone without a token: now only a client on
  this machine (not forwarded by a proxy) without a token, else the token is required.
* ``deploy/redis/sentinel.conf`` bound 0.0.0.0 without a password (redis.conf had no password
  either): the shipped configs bind private addresses and refuse unauthenticated clients, and
  citywifi still reaches Redis through them.
* With ``web.public_url`` empty, probe redirects reflected the Host header: outside demo mode
  ``citywifi web`` and ``citywifi up`` refuse to start without it.
* Phone pages sent no frame protection (clickjacking of login/logout).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis as redislib

from tests.conftest import free_tcp_port
from tests.deploy.shipped_redis import (
    DEPLOY,
    TEST_PASSWORD,
    redis_binary,
    shipped_config,
    start_redis,
    stop_redis,
)
from tests.security.webproc import citywifi, exits_with, request, running_web

PROXY = "127.0.0.2"
PUBLIC_URL = "http://10.0.0.1"


def _env(redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {"CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(data_dir),
            "CITYWIFI_WEB_SECRET_KEY": "e" * 32, "CITYWIFI_WEB_PUBLIC_URL": PUBLIC_URL,
            "CITYWIFI_WEB_TRUSTED_PROXIES": f"{PROXY}/32", "CITYWIFI_WEB_PROXY_HOPS": "1",
            "CITYWIFI_LOG_LEVEL": "WARNING", **extra}


@pytest.fixture
def web(redis_url: str, redis_client: Any, tmp_path: Path) -> Any:
    port = free_tcp_port()
    with running_web(_env(redis_url, tmp_path), port=port):
        yield port


# --- /metrics --------------------------------------------------------------------------------------

def test_metrics_without_a_token_only_for_this_machine(web: int) -> None:
    assert request(web, "GET", "/metrics").status == 200       # Prometheus on this box, directly
    # A phone through nginx (the trusted proxy) is a remote client.
    phone = request(web, "GET", "/metrics", source=PROXY, headers={"X-Forwarded-For": "10.20.0.7"})
    assert phone.status == 403 and "citywifi_" not in phone.body
    # Through a local proxy we were not told about: its clients are not "this machine" either.
    relayed = request(web, "GET", "/metrics", headers={"X-Forwarded-For": "10.20.0.7"})
    assert relayed.status == 403 and "citywifi_" not in relayed.body


def test_metrics_with_a_token_want_it_from_everyone(
        redis_url: str, redis_client: Any, tmp_path: Path) -> None:
    port = free_tcp_port()
    with running_web(_env(redis_url, tmp_path, CITYWIFI_METRICS_WEB_TOKEN="scrape-" + "t" * 24), port=port):
        assert request(port, "GET", "/metrics").status == 401
        assert request(port, "GET", "/metrics", headers={"Authorization": "Bearer wrong"}).status == 401
        ok = request(port, "GET", "/metrics", source=PROXY, headers={
            "X-Forwarded-For": "10.3.0.9", "Authorization": "Bearer scrape-" + "t" * 24})
        assert ok.status == 200 and "citywifi_web_requests_total" in ok.body


# --- frame protection of phone pages -------------------------------------------------------------

@pytest.mark.parametrize("path", ["/portal", "/portal/status", "/portal?wlanuserip=10.9.9.9&wlanacname=x",
                                  "/generate_204", "/api/captive", "/nothing-here"])
def test_phone_pages_may_not_be_framed(web: int, path: str) -> None:
    reply = request(web, "GET", path, source=PROXY, headers={"X-Forwarded-For": "10.20.0.8"})
    if path == "/nothing-here":     # not a phone page: the console's own (same-origin) policy
        assert "frame-ancestors 'self'" in reply.headers["content-security-policy"]
        return
    assert reply.headers.get("x-frame-options") == "DENY"
    assert "frame-ancestors 'none'" in reply.headers.get("content-security-policy", "")


def test_the_venue_page_preview_still_frames_same_origin() -> None:
    # The venue editor shows its preview in a same-origin <iframe>: that policy is untouched.
    from portal.web.venue.venue_console import PREVIEW_CSP

    assert "frame-ancestors 'self'" in PREVIEW_CSP


# --- public_url --------------------------------------------------------------------------------------

def test_probe_redirects_use_public_url_not_the_host_header(web: int) -> None:
    reply = request(web, "GET", "/generate_204", source=PROXY,
                    headers={"X-Forwarded-For": "10.20.0.8", "Host": "evil.example.cn"})
    assert reply.status == 302 and reply.headers["location"].startswith(PUBLIC_URL + "/")
    api = json.loads(request(web, "GET", "/api/captive", source=PROXY,
                             headers={"X-Forwarded-For": "10.20.0.8", "Host": "evil.example.cn"}).body)
    assert api["user-portal-url"].startswith(PUBLIC_URL + "/")


def test_wispr_urls_in_the_phone_page_use_public_url(web: int, redis_client: Any) -> None:
    # The WISPr block tells smart clients where to post the phone number and code.
    from portal.aaa.acs import AcRecord, AcRegistry

    AcRegistry(redis_client).put(AcRecord(name="ac1", addresses=("10.1.0.1",), secret="s" * 16))
    query = "wlanacname=ac1&wlanuserip=10.20.0.8&wlanusermac=02-00-00-00-00-08&ssid=CityWiFi"
    page = request(web, "GET", f"/portal?{query}", source=PROXY,
                   headers={"X-Forwarded-For": "10.20.0.8", "Host": "evil.example.cn"})
    assert page.status == 200 and "<LoginURL>" in page.body
    login_url = re.search(r"<LoginURL>([^<]+)</LoginURL>", page.body)
    assert login_url is not None and login_url.group(1).startswith(PUBLIC_URL + "/")
    assert "evil.example.cn" not in page.body


def test_web_refuses_to_start_without_public_url_outside_demo(redis_url: str, tmp_path: Path) -> None:
    env = _env(redis_url, tmp_path)
    del env["CITYWIFI_WEB_PUBLIC_URL"]
    status, out = exits_with(citywifi("web", "--port", str(free_tcp_port()), "--workers", "1", env=env))
    assert status == 2 and "web.public_url" in out and "web.demo" in out, out


def test_demo_mode_may_leave_public_url_empty(redis_url: str, redis_client: Any, tmp_path: Path) -> None:
    env = _env(redis_url, tmp_path, CITYWIFI_WEB_DEMO="1")
    del env["CITYWIFI_WEB_PUBLIC_URL"]
    with running_web(env, port=free_tcp_port()):
        pass


def test_up_refuses_before_starting_anything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    status, out = exits_with(citywifi("up", env={"CITYWIFI_DATA_DIR": str(data)}, cwd=tmp_path), timeout=60)
    assert status == 2 and "web.public_url" in out, out
    assert not (data / "redis").exists()       # no embedded Redis left behind


@pytest.mark.parametrize("value", ["10.0.0.1", "ftp://10.0.0.1", "http://10.0.0.1/?next=x"])
def test_public_url_must_be_an_http_url(redis_url: str, tmp_path: Path, value: str) -> None:
    status, out = exits_with(citywifi("config", "check", env=_env(redis_url, tmp_path,
                                                                  CITYWIFI_WEB_PUBLIC_URL=value)))
    assert status == 2 and "web.public_url" in out, out


# --- shipped Redis and Sentinel configs ------------------------------------------------------------

def _binds(name: str) -> list[str]:
    text = (DEPLOY / "redis" / name).read_text(encoding="utf-8")
    return [addr for line in re.findall(r"(?m)^bind (.+)$", text) for addr in line.split()]


def _once(**kw: Any) -> Any:
    """A client that tries once (redis-py retries failed connections, auth failures included)."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redislib.Redis(retry=Retry(NoBackoff(), 0), socket_connect_timeout=2, **kw)


def _other_local_address() -> str | None:
    """A non-loopback address of this machine, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("name", ["redis.conf", "sentinel.conf", "cluster/redis-7001.conf"])
def test_shipped_configs_bind_private_addresses_and_require_a_password(name: str) -> None:
    binds = [b.lstrip("-") for b in _binds(name)]
    assert binds and all(b in ("127.0.0.1", "::1") for b in binds), binds
    text = (DEPLOY / "redis" / name).read_text(encoding="utf-8")
    assert re.search(r"(?m)^include \S+auth\.conf$", text), "authentication must be on, not commented out"


def test_sentinel_and_redis_refuse_unauthenticated_clients_and_citywifi_gets_through(tmp_path: Path) -> None:
    from portal.runtime.settings import RedisSettings
    from portal.state import connect

    master_dir, sentinel_dir = tmp_path / "master", tmp_path / "sentinel"
    master_dir.mkdir()
    sentinel_dir.mkdir()
    master_port, sentinel_port = free_tcp_port(), free_tcp_port()
    master_conf = shipped_config("redis.conf", master_dir, master_port)
    master = start_redis([redis_binary("redis-server"), str(master_conf), "--supervised", "no"], master_port)
    conf = shipped_config("sentinel.conf", sentinel_dir, sentinel_port, sentinel_password="sentinel-secret")
    conf.write_text(conf.read_text().replace("sentinel monitor citywifi 10.0.2.11 6379 2",
                                             f"sentinel monitor citywifi 127.0.0.1 {master_port} 1"))
    sentinel = start_redis([redis_binary("redis-server"), str(conf), "--sentinel"], sentinel_port,
                           password="sentinel-secret")
    try:
        for port in (master_port, sentinel_port):
            with pytest.raises(redislib.AuthenticationError):
                _once(port=port).ping()
            with pytest.raises(redislib.AuthenticationError):
                _once(port=port, password="guess").ping()
        other = _other_local_address()
        if other is not None:                   # bound to loopback only: not reachable from outside
            for port in (master_port, sentinel_port):
                with pytest.raises(redislib.ConnectionError):
                    _once(host=other, port=port, password=TEST_PASSWORD).ping()
        # citywifi, configured as sentinel.conf's header says, reaches the master through it.
        settings = RedisSettings(sentinels=(f"127.0.0.1:{sentinel_port}",), sentinel_master="citywifi",
                                 sentinel_password="sentinel-secret")
        client = connect(settings, f"redis://:{TEST_PASSWORD}@/0")
        client.set("cw:probe", "1")
        assert redislib.Redis(port=master_port, password=TEST_PASSWORD).get("cw:probe") == b"1"
        client.close()
    finally:
        stop_redis(sentinel)
        stop_redis(master)


def test_redis_without_its_password_file_does_not_start(tmp_path: Path) -> None:
    port = free_tcp_port()
    conf = shipped_config("redis.conf", tmp_path, port)
    (tmp_path / "citywifi-auth.conf").unlink()          # the operator skipped the step
    proc = subprocess.run([redis_binary("redis-server"), str(conf), "--supervised", "no"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
