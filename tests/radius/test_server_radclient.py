"""The full RADIUS server against Debian's radclient/radtest (independent clients) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from portal.aaa.credentials import CredentialStore
from tests.radius.serverkit import (
    HAVE_RADCLIENT,
    MAC,
    PHONE,
    RunningServer,
    radclient,
    radtest,
    register,
    running_server,
)

pytestmark = [
    pytest.mark.needs_radclient,
    pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient/radtest not installed"),
]


@pytest.fixture
def server(redis_client: Any, redis_url: str) -> Iterator[RunningServer]:
    register(redis_client)
    with running_server(redis_url) as srv:
        yield srv


def test_radtest_pap_token_accepted_once_with_huawei_rates(server: RunningServer, redis_client: Any) -> None:
    cred = CredentialStore(redis_client).mint_login_token(PHONE)
    out = radtest(server.auth_port, PHONE, cred.password)
    assert "Received Access-Accept" in out
    assert "Huawei-Input-Average-Rate = 2000000" in out
    assert "Huawei-Output-Average-Rate = 8000000" in out
    assert "Session-Timeout = 7200" in out and "Acct-Interim-Interval = 300" in out
    # BlastRADIUS: Message-Authenticator is the first reply attribute.
    lines = out.split("Received Access-Accept", 1)[1].splitlines()
    assert lines[1].strip().startswith("Message-Authenticator")
    again = radtest(server.auth_port, PHONE, cred.password)
    assert "Received Access-Reject" in again and "already used" in again
    assert server.metrics.get("reject.reused_credential") == 1


def test_radtest_chap_token_and_wrong_password(server: RunningServer, redis_client: Any) -> None:
    cred = CredentialStore(redis_client).mint_login_token(PHONE)
    assert "Received Access-Reject" in radtest(server.auth_port, PHONE, "wrong", method="chap")
    assert "Received Access-Accept" in radtest(server.auth_port, PHONE, cred.password, method="chap")
    assert server.metrics.get("reject.invalid_credential") == 1
    assert server.metrics.get("auth.accept") == 1


def test_radclient_pap_mac_credential(server: RunningServer, redis_client: Any) -> None:
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=7)
    attrs = (f'User-Name="{PHONE}", User-Password="{cred.password}", '
             f'Calling-Station-Id="{MAC}", Message-Authenticator=0x00')
    for _ in range(2):   # reusable
        assert "Received Access-Accept" in radclient(server.auth_port, "auth", attrs)
    other = attrs.replace(MAC, "66-55-44-33-22-11")
    assert "Received Access-Reject" in radclient(server.auth_port, "auth", other)


def test_radclient_without_message_authenticator_is_dropped_where_required(
        redis_client: Any, redis_url: str) -> None:
    # (the default, auto, is in test_ma_policy.py: it accepts these until the AC signs one)
    register(redis_client, require_message_authenticator="yes")
    cred = CredentialStore(redis_client).mint_login_token(PHONE)
    with running_server(redis_url) as srv:
        out = radclient(srv.auth_port, "auth", f'User-Name="{PHONE}", User-Password="{cred.password}"',
                        timeout=0.5, retries=1)
        assert "Received" not in out
        assert srv.metrics.get("drop.missing_message_authenticator") >= 1


def test_wrong_secret_is_dropped(server: RunningServer) -> None:
    out = radtest(server.auth_port, PHONE, "x", secret="not-the-secret")  # radtest adds an MA
    assert "Received" not in out
    assert server.metrics.get("drop.bad_message_authenticator") >= 1


def test_status_server_on_both_ports(server: RunningServer) -> None:
    out = radclient(server.auth_port, "status", "Message-Authenticator=0x00")
    assert "Received Access-Accept" in out
    out = radclient(server.acct_port, "status", "Message-Authenticator=0x00")
    assert "Received Accounting-Response" in out
    assert server.metrics.get("status_server") == 2


def test_radclient_accounting_start_interim_stop(server: RunningServer, redis_client: Any) -> None:
    base = (f'User-Name="{PHONE}", Acct-Session-Id="sess-1", NAS-IP-Address=127.0.0.1, '
            f'Calling-Station-Id="{MAC}", Framed-IP-Address=10.0.0.9')
    for status, extra in (("Start", ""), ("Interim-Update", ", Acct-Session-Time=60, Acct-Input-Octets=1000"),
                          ("Stop", ", Acct-Session-Time=120, Acct-Input-Octets=2000")):
        out = radclient(server.acct_port, "acct", f"{base}, Acct-Status-Type={status}{extra}")
        assert "Received Accounting-Response" in out, out
    assert server.metrics.get("acct.ok") == 3
    out = radclient(server.acct_port, "acct", f"{base}, Acct-Status-Type=Start", secret="bad-secret")
    assert "Received" not in out
    assert server.metrics.get("drop.bad_authenticator") >= 1


def test_redis_down_means_no_answer(redis_client: Any, tmp_path: Any) -> None:
    from portal.state.embedded import EmbeddedRedis

    own = EmbeddedRedis(tmp_path, port=0).start()
    try:
        import redis as redislib

        client = redislib.Redis.from_url(own.url)
        register(client)
        cred = CredentialStore(client).bind_mac(MAC, PHONE, days=7)
        client.close()
        with running_server(own.url) as srv:
            attrs = (f'User-Name="{PHONE}", User-Password="{cred.password}", '
                     f'Calling-Station-Id="{MAC}", Message-Authenticator=0x00')
            assert "Received Access-Accept" in radclient(srv.auth_port, "auth", attrs)
            own.stop()
            # Policy is unreachable: silence (the AC retries or fails over), never an Accept.
            assert "Received" not in radclient(srv.auth_port, "auth", attrs.replace("0x00", "0x00 "),
                                               timeout=0.5)
            assert "Received" not in radclient(srv.auth_port, "status", "Message-Authenticator=0x00",
                                               timeout=0.5)
            assert srv.metrics.get("drop.state_unavailable") >= 2
    finally:
        own.stop()
