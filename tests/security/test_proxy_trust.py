"""A phone cannot claim another phone's address.

Attack: gunicorn reached directly (``web.host`` was 0.0.0.0) while ``proxy_hops = 1`` trusted
X-Forwarded-For from anyone; a phone sending ``X-Forwarded-For: <victim>`` read the victim's
status and logged the victim out. Now forwarding headers count only from ``web.trusted_proxies``,
the documented-but-unsafe combination refuses to start, and gunicorn does not listen on a
non-loopback address without a proxy in front.

Real ``citywifi web`` processes over HTTP; 127.0.0.2 plays nginx (the trusted proxy), 127.0.0.1
a phone talking to gunicorn directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from portal.state import keys
from tests.conftest import free_tcp_port
from tests.security.webproc import ROOT, citywifi, exits_with, request, running_web

PROXY = "127.0.0.2"        # nginx's address, listed in web.trusted_proxies
PHONE_DIRECT = "127.0.0.1"  # a phone that reaches gunicorn without the proxy
VICTIM_IP = "10.20.0.7"
VICTIM_PHONE = "18900000001"
FORGED = {"X-Forwarded-For": VICTIM_IP, "X-Real-IP": VICTIM_IP, "Forwarded": f"for={VICTIM_IP}"}


def _env(redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {"CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(data_dir),
            "CITYWIFI_WEB_SECRET_KEY": "s" * 32, "CITYWIFI_WEB_PUBLIC_URL": "http://10.0.0.1",
            "CITYWIFI_LOG_LEVEL": "WARNING", **extra}


def _victim_online(redis_client: Any) -> None:
    """The victim's portal login, as PhoneJourney writes it (fresh: online before accounting)."""
    redis_client.hset(keys.portal_login("ac1", VICTIM_IP), mapping={
        "phone": VICTIM_PHONE, "mac": "02:00:00:00:00:07", "plan": "basic", "venue": "none",
        "ssid": "CityWiFi", "ap": "", "at": f"{time.time():.3f}", "kind": "sms"})
    redis_client.set(keys.login_by_ip(VICTIM_IP), "ac1")


def _sees_victim(reply_body: str) -> bool:
    return "189****0001" in reply_body


@pytest.fixture
def proxied_web(redis_url: str, redis_client: Any, tmp_path: Path) -> Any:
    port = free_tcp_port()
    env = _env(redis_url, tmp_path, CITYWIFI_WEB_TRUSTED_PROXIES=f"{PROXY}/32", CITYWIFI_WEB_PROXY_HOPS="1")
    with running_web(env, port=port):
        yield port


def test_a_phone_reaching_gunicorn_directly_cannot_claim_the_victims_address(
        proxied_web: int, redis_client: Any) -> None:
    port = proxied_web
    _victim_online(redis_client)
    # The real path: nginx (a trusted proxy) says who the client is — the victim sees their status.
    own = request(port, "GET", "/portal/status", source=PROXY, headers={"X-Forwarded-For": VICTIM_IP})
    assert own.status == 200 and _sees_victim(own.body)
    api = json.loads(request(port, "GET", "/api/captive", source=PROXY,
                             headers={"X-Forwarded-For": VICTIM_IP}).body)
    assert api["captive"] is False

    # The attack: the same headers straight to gunicorn are not believed.
    forged = request(port, "GET", "/portal/status", source=PHONE_DIRECT, headers=FORGED)
    assert forged.status == 200 and not _sees_victim(forged.body)
    api = json.loads(request(port, "GET", "/api/captive", source=PHONE_DIRECT, headers=FORGED).body)
    assert api["captive"] is True
    out = request(port, "POST", "/portal/logout", source=PHONE_DIRECT, headers=FORGED, body="")
    assert out.status != 200 or not _sees_victim(out.body)
    assert redis_client.exists(keys.portal_login("ac1", VICTIM_IP)) == 1     # still logged in


def test_through_the_proxy_only_the_entry_the_proxy_wrote_counts(proxied_web: int, redis_client: Any) -> None:
    # A phone behind nginx puts the victim first in its own X-Forwarded-For: with one trusted hop
    # only the last entry (what nginx appended or set) is the client.
    _victim_online(redis_client)
    reply = request(proxied_web, "GET", "/portal/status", source=PROXY,
                    headers={"X-Forwarded-For": f"{VICTIM_IP}, 10.20.0.99"})
    assert reply.status == 200 and not _sees_victim(reply.body)


def test_the_old_documented_proxy_hops_alone_refuses_to_start(redis_url: str, tmp_path: Path) -> None:
    proc = citywifi("web", "--port", str(free_tcp_port()), "--workers", "1",
                    env=_env(redis_url, tmp_path, CITYWIFI_WEB_PROXY_HOPS="1"))
    status, out = exits_with(proc)
    assert status == 2, out
    assert "web.proxy_hops" in out and "web.trusted_proxies" in out
    # `config check` says the same before anything restarts.
    check = citywifi("config", "check", env=_env(redis_url, tmp_path, CITYWIFI_WEB_PROXY_HOPS="1"))
    status, out = exits_with(check)
    assert status == 2 and "web.trusted_proxies" in out


@pytest.mark.parametrize("proxies", ["0.0.0.0/0", "::/0", "10.0.0.300"])
def test_trusted_proxies_that_cover_everyone_or_are_not_addresses_are_refused(
        redis_url: str, tmp_path: Path, proxies: str) -> None:
    check = citywifi("config", "check", env=_env(redis_url, tmp_path, CITYWIFI_WEB_PROXY_HOPS="1",
                                                 CITYWIFI_WEB_TRUSTED_PROXIES=proxies))
    status, out = exits_with(check)
    assert status == 2 and "web.trusted_proxies" in out, out


@pytest.mark.parametrize("how", ["argument", "setting"])
def test_no_public_listen_address_without_a_trusted_proxy(redis_url: str, tmp_path: Path, how: str) -> None:
    port = free_tcp_port()
    env = _env(redis_url, tmp_path)
    args = ["--host", "0.0.0.0"] if how == "argument" else []
    if how == "setting":
        env["CITYWIFI_WEB_HOST"] = "0.0.0.0"
    proc = citywifi("web", "--port", str(port), "--workers", "1", *args, env=env)
    status, out = exits_with(proc)
    assert status == 2, out
    assert "web.host" in out and "web.trusted_proxies" in out and "nginx" in out
    with pytest.raises(OSError):        # and it never listened
        request(port, "GET", "/healthz", timeout=2)


def test_gunicorn_conf_refuses_the_same(redis_url: str, tmp_path: Path) -> None:
    """Plain ``gunicorn -c deploy/gunicorn.conf.py`` gets the same refusal as ``citywifi web``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update(_env(redis_url, tmp_path, CITYWIFI_WEB_HOST="0.0.0.0"))
    load = subprocess.run([sys.executable, "-c", "import runpy; runpy.run_path('deploy/gunicorn.conf.py')"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert load.returncode != 0 and "web.trusted_proxies" in load.stderr, load.stderr


def test_with_a_trusted_proxy_a_non_loopback_address_is_allowed() -> None:
    import dataclasses

    from portal.commands.web import check_exposure
    from portal.runtime.settings import Settings, WebSettings

    settings = dataclasses.replace(Settings(), web=WebSettings(
        host="0.0.0.0", public_url="http://10.0.0.1", proxy_hops=1, trusted_proxies=("10.0.1.5/32",)))
    check_exposure(settings)      # no exception: nginx at 10.0.1.5 fronts it
