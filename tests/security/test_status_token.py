"""The phone number must not be readable inside the ``?s=`` status token.

The token is the per-client status link (success page, RFC 8908 ``user-portal-url``, WISPr
LogoffURL): it travels in GET URLs for 30 days and lands in access logs and browser history.
It was base64 JSON with a signature, so anyone seeing the URL read the phone number, AC and
address. Now it is sealed (AES-256-GCM). The token is made by the journey exactly as a login
makes it and used against a real ``citywifi web`` over HTTP.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from portal.phone.login import LoginError, build_journey
from portal.runtime.settings import RedisSettings, Settings, WebSettings
from portal.state import keys
from tests.conftest import free_tcp_port
from tests.security.webproc import request, running_web

PHONE = "18912345678"
IP = "10.31.7.42"
SECRET = "t" * 32


def _settings(redis_url: str, data_dir: Path) -> Settings:
    return dataclasses.replace(Settings(), data_dir=data_dir, redis=RedisSettings(url=redis_url),
                               web=WebSettings(secret_key=SECRET, public_url="http://10.0.0.1"))


def _every_decoding(token: str) -> list[bytes]:
    """What someone reading the URL gets by base64-decoding any piece of it."""
    pieces = [token, *token.replace(".", " ").replace("-", " ").replace("_", " ").split()]
    out = [token.encode()]
    for piece in pieces:
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            with contextlib.suppress(binascii.Error, ValueError):
                out.append(decode(piece + "=" * (-len(piece) % 4)))
    return out


def test_the_status_token_does_not_show_the_phone_number(
        redis_url: str, redis_client: Any, tmp_path: Path) -> None:
    journey = build_journey(_settings(redis_url, tmp_path), redis_client)
    token = journey.session_token("ac1", IP, PHONE)
    for blob in _every_decoding(token):
        for secret_part in (PHONE.encode(), PHONE[-4:].encode() + b'"', IP.encode(), b'"p"'):
            assert secret_part not in blob, (token, blob)
    # Two tokens for the same login differ (fresh nonce): they cannot be linked by value either.
    assert journey.session_token("ac1", IP, PHONE) != token
    assert journey.open_session_token(token) == ("ac1", IP, PHONE)


def test_a_tampered_foreign_or_expired_token_does_not_open(
        redis_url: str, redis_client: Any, tmp_path: Path) -> None:
    journey = build_journey(_settings(redis_url, tmp_path), redis_client)
    token = journey.session_token("ac1", IP, PHONE)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-1] ^= 1
    for bad in (base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="), token[:-4], "", "x" * 4000,
                journey.signer.seal("ctx", {"ac": "ac1", "ip": IP, "p": PHONE}, 60),   # another purpose
                journey.signer.sign("ses", {"ac": "ac1", "ip": IP, "p": PHONE}, 60)):  # the old format
        with pytest.raises(LoginError) as err:
            journey.open_session_token(bad)
        assert err.value.code == "bad_link"
    other = build_journey(dataclasses.replace(_settings(redis_url, tmp_path),
                                              web=WebSettings(secret_key="o" * 32)), redis_client)
    with pytest.raises(LoginError):
        other.open_session_token(token)                   # another installation's key
    expired = journey.signer.seal("ses", {"ac": "ac1", "ip": IP, "p": PHONE}, -1)
    with pytest.raises(LoginError) as err:
        journey.open_session_token(expired)
    assert err.value.code == "link_expired"


def test_the_status_page_opens_with_the_sealed_token(
        redis_url: str, redis_client: Any, tmp_path: Path) -> None:
    journey = build_journey(_settings(redis_url, tmp_path), redis_client)
    redis_client.hset(keys.portal_login("ac1", IP), mapping={
        "phone": PHONE, "mac": "", "plan": "basic", "venue": "none", "ssid": "CityWiFi", "ap": "",
        "at": f"{time.time():.3f}", "kind": "sms"})
    token = journey.session_token("ac1", IP, PHONE)
    port = free_tcp_port()
    env = {"CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(tmp_path),
           "CITYWIFI_WEB_SECRET_KEY": SECRET, "CITYWIFI_WEB_PUBLIC_URL": "http://10.0.0.1",
           "CITYWIFI_LOG_LEVEL": "WARNING"}
    with running_web(env, port=port):
        page = request(port, "GET", f"/portal/status?s={token}")
        assert page.status == 200 and "189****5678" in page.body and PHONE not in page.body
        api = request(port, "GET", f"/api/captive?s={token}")
        assert '"captive": false' in api.body
        assert request(port, "GET", f"/portal/status?s={token[:-3]}").status == 400
