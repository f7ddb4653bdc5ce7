"""Message-Authenticator and Proxy-State policies as FreeRADIUS 3.2.5+ has
them (``yes`` / ``no`` / ``auto``, global and per AC), Message-Authenticator first in every
reply, and (item 9) a drop for it counted per AC and logged at WARNING without DEBUG — with
Debian's radclient/radtest as the AC."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from portal.aaa.acs import AcRegistry
from portal.aaa.credentials import CredentialStore
from portal.state import keys
from tests.radius.serverkit import (
    HAVE_RADCLIENT,
    MAC,
    PHONE,
    access_request,
    exchange,
    radclient,
    radtest,
    register,
    running_server,
)
from tests.radius.test_unknown_attributes import metric_samples

pytestmark = [
    pytest.mark.needs_radclient,
    pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient/radtest not installed"),
]


def attrs(password: str, *, ma: bool, extra: str = "") -> str:
    out = f'User-Name="{PHONE}", User-Password="{password}", Calling-Station-Id="{MAC}"'
    return out + (", Message-Authenticator=0x00" if ma else "") + extra


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


def test_auto_accepts_unsigned_requests_until_the_ac_signs_one(
        redis_client: Any, redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The default (auto): an AC that never sends Message-Authenticator is served; once it has
    sent one, an unsigned request is dropped, counted per AC and logged once at WARNING."""
    register(redis_client)
    password = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1).password
    with running_server(redis_url) as srv, caplog.at_level(logging.INFO):
        for _ in range(2):
            assert "Received Access-Accept" in radclient(srv.auth_port, "auth", attrs(password, ma=False))
        assert not redis_client.hexists(keys.ac_radius_learned("ac1"), "ma")
        assert "Received Access-Accept" in radclient(srv.auth_port, "auth", attrs(password, ma=True))
        assert redis_client.hexists(keys.ac_radius_learned("ac1"), "ma")
        for _ in range(3):
            out = radclient(srv.auth_port, "auth", attrs(password, ma=False), timeout=0.3)
            assert "Received" not in out
        assert srv.metrics.get("drop.missing_message_authenticator") == 3
        assert srv.metrics.get("ac_drop.missing_message_authenticator.ac1") == 3
        samples = metric_samples(srv)
        assert samples[("citywifi_radius_ac_dropped_total",
                        (("ac", "ac1"), ("reason", "missing_message_authenticator")))] == 3
        srv.server.tick()
        assert redis_client.hget(keys.ac_stats("ac1"), "radius_drop:missing_message_authenticator") == b"3"
    warned = warnings_about(caplog, "AC ac1: Access-Request dropped (no Message-Authenticator)")
    assert len(warned) == 1, [r.getMessage() for r in caplog.records]   # rate-limited
    assert "require_message_authenticator" in warned[0].getMessage()     # says what to do
    learned = [r for r in caplog.records if "sent a valid Message-Authenticator" in r.getMessage()]
    assert len(learned) == 1 and learned[0].levelno == logging.INFO


def test_learned_requirement_holds_on_every_node(redis_client: Any, redis_url: str) -> None:
    """What auto learned is in Redis: a second server (another node, or a restarted one) drops
    the AC's unsigned requests without having seen a signed one itself."""
    register(redis_client)
    password = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1).password
    with running_server(redis_url) as first:
        assert "Received Access-Reject" in radtest(first.auth_port, PHONE, "x")   # signed: learned
    with running_server(redis_url) as second:
        assert "Received" not in radclient(second.auth_port, "auth", attrs(password, ma=False), timeout=0.3)
        assert second.metrics.get("drop.missing_message_authenticator") == 1
    # Editing the AC's policy (or its addresses) forgets what was learned.
    registry = AcRegistry(redis_client)
    registry.put(dataclasses.replace(registry.get("ac1"), description="edited"))
    assert redis_client.exists(keys.ac_radius_learned("ac1"))             # unrelated edit: kept
    registry.put(dataclasses.replace(registry.get("ac1"), addresses=("127.0.0.1", "192.0.2.7")))
    assert not redis_client.exists(keys.ac_radius_learned("ac1"))


@pytest.mark.parametrize(("global_mode", "ac_mode", "answered"), [
    ("yes", "", False), ("no", "", True), ("auto", "yes", False), ("yes", "no", True),
])
def test_global_setting_and_per_ac_override(redis_client: Any, redis_url: str, global_mode: str,
                                            ac_mode: str, answered: bool) -> None:
    register(redis_client, require_message_authenticator=ac_mode)
    password = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1).password
    with running_server(redis_url, require_message_authenticator=global_mode) as srv:
        out = radclient(srv.auth_port, "auth", attrs(password, ma=False), timeout=0.3)
        assert ("Received Access-Accept" in out) is answered
        assert srv.metrics.get("drop.missing_message_authenticator") == (0 if answered else 1)


@pytest.mark.parametrize(("mode", "first_has_proxy_state", "later_answered"), [
    ("auto", False, False), ("auto", True, True), ("yes", True, False), ("no", False, True),
])
def test_limit_proxy_state(redis_client: Any, redis_url: str, caplog: pytest.LogCaptureFixture,
                           mode: str, first_has_proxy_state: bool, later_answered: bool) -> None:
    """Proxy-State without Message-Authenticator (the BlastRADIUS shape), with Message-Authenticator
    not required: yes drops it, no accepts it, auto accepts it only from an AC whose first
    Access-Request carried it (a proxy), and says so at WARNING."""
    register(redis_client, require_message_authenticator="no", limit_proxy_state=mode)
    password = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1).password
    proxied = attrs(password, ma=False, extra=', Proxy-State = 0x686f7031')
    with running_server(redis_url) as srv, caplog.at_level(logging.INFO):
        opening = proxied if first_has_proxy_state else attrs(password, ma=False)
        first = radclient(srv.auth_port, "auth", opening, timeout=0.3)
        assert ("Received" in first) is (later_answered or not first_has_proxy_state)
        later = radclient(srv.auth_port, "auth", proxied, timeout=0.3)
        assert ("Received Access-Accept" in later) is later_answered
        if not later_answered:
            assert srv.metrics.get("ac_drop.proxy_state_without_ma.ac1") >= 1
    proxy_warning = bool(warnings_about(caplog, "treated as a RADIUS proxy"))
    assert proxy_warning is (mode == "auto" and first_has_proxy_state)


def test_message_authenticator_is_first_in_accepts_and_rejects(redis_client: Any, redis_url: str) -> None:
    register(redis_client, require_message_authenticator="no")
    token = CredentialStore(redis_client).mint_login_token(PHONE)
    with running_server(redis_url) as srv:
        for password, code in (("wrong", "Access-Reject"), (token.password, "Access-Accept")):
            out = radclient(srv.auth_port, "auth", f'User-Name="{PHONE}", User-Password="{password}"')
            assert f"Received {code}" in out, out
            lines = out.split(f"Received {code}", 1)[1].splitlines()
            assert lines[1].strip().startswith("Message-Authenticator"), out
        # also for a request that carried none (pyrad as an independent decoder)
        req = access_request(User_Name=PHONE, password="wrong", ma=False)
        reply = exchange(srv.auth_port, req.RequestPacket())
        assert reply is not None and reply[20] == 80
