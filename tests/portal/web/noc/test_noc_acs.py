"""NOC ACs: console pages and /api/v1/acs (create, edit, disable, secret rotation shown once and
never audited, live state), and the rotation proven with radclient against the real server:
the new secret is answered, the old one is dropped and counted as a bad authenticator."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from portal.state import keys
from portal.web import services
from radius.ac_activity import AcActivity
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import make_app
from tests.portal.web.noc.nockit import post, signed_in
from tests.radius.serverkit import HAVE_RADCLIENT, SECRET, radclient, register, running_server

XSS = '<script>alert("x")</script>'
FORM = {"addresses": "10.0.0.1, 10.0.0.2", "vendor": "h3c", "port": "2000", "coa_port": "3799",
        "enabled": "1", "rfc5176": "1", "require_message_authenticator": "1", "description": "lobby"}


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def shown_secret(html: str, element_id: str) -> str:
    """The secret a page shows once, in ``<code id="…">``."""
    match = re.search(rf'id="{element_id}">([^<]+)<', html)
    assert match, f"no {element_id} on the page"
    return match.group(1)


def audit_stream_text(redis: Any) -> str:
    return json.dumps([{k.decode(): v.decode() for k, v in raw.items()}
                       for _id, raw in redis.xrange(keys.audit_log())], ensure_ascii=False)


def test_roles_and_csrf(app: Flask, redis_client: Any) -> None:
    assert app.test_client().get("/noc/acs").status_code == 302
    venue = signed_in(app, redis_client, Role.VENUE, "op1")
    for path in ("/noc/acs", "/noc/acs/new"):
        assert venue.get(path).status_code == 403
    noc = signed_in(app, redis_client)
    refused = noc.post("/noc/acs/new", data={**FORM, "name": "ac1"})
    assert refused.status_code == 400 and AcRegistry(redis_client).get_or_none("ac1") is None


def test_create_shows_generated_secret_once_and_audit_has_none(app: Flask, redis_client: Any) -> None:
    noc = signed_in(app, redis_client)
    resp = post(noc, "/noc/acs/new", {**FORM, "name": "ac1"})
    assert resp.status_code == 201
    shown = shown_secret(resp.get_data(as_text=True), "portal-secret")
    record = AcRegistry(redis_client).get("ac1")
    assert record.secret == shown and len(shown) >= 20 and record.radius_secret == ""
    assert record.addresses == ("10.0.0.1", "10.0.0.2") and record.vendor == "h3c" and not record.heartbeat
    for path in ("/noc/acs", "/noc/acs/ac1"):
        assert shown not in noc.get(path).get_data(as_text=True)
    entry = AuditLog(redis_client).recent(1, area="noc")[0]
    assert (entry.action, entry.target, entry.actor) == ("ac.create", "ac1", "user:noc1")
    assert shown not in audit_stream_text(redis_client)


def test_edit_keeps_secrets_disable_enable(app: Flask, redis_client: Any) -> None:
    AcRegistry(redis_client).put(AcRecord(name="ac1", addresses=("10.0.0.1",), secret="old-secret-123"))
    noc = signed_in(app, redis_client)
    resp = post(noc, "/noc/acs/ac1", {**FORM, "addresses": "10.0.0.9", "heartbeat": "1",
                                      "secret": "ignored-here", "radius_dialect": "wispr"})
    assert resp.status_code == 302
    record = AcRegistry(redis_client).get("ac1")
    assert record.addresses == ("10.0.0.9",) and record.heartbeat and record.secret == "old-secret-123"
    assert record.radius_dialect == "wispr"
    assert AcRegistry(redis_client).by_address("10.0.0.1") is None
    assert post(noc, "/noc/acs/ac1/disable", {}).status_code == 302
    assert not AcRegistry(redis_client).get("ac1").enabled
    assert post(noc, "/noc/acs/ac1/enable", {}).status_code == 302
    assert AcRegistry(redis_client).get("ac1").enabled
    actions = [e.action for e in AuditLog(redis_client).recent(3, area="noc")]
    assert actions == ["ac.enable", "ac.disable", "ac.update"]
    assert noc.get("/noc/acs/ghost").status_code == 404


def test_address_check_and_redirect_key_console_and_api(app: Flask, redis_client: Any) -> None:
    registry = AcRegistry(redis_client)
    noc = signed_in(app, redis_client)
    page = noc.get("/noc/acs/new").get_data(as_text=True)
    assert re.search(r'name="client_address_check" value="1" checked', page)     # on by default
    assert post(noc, "/noc/acs/new", {**FORM, "name": "nat1", "redirect_key": "EAGkey01"}).status_code == 201
    record = registry.get("nat1")
    assert not record.client_address_check and record.redirect_key == "EAGkey01"   # box left unticked
    edit = noc.get("/noc/acs/nat1").get_data(as_text=True)
    assert "EAGkey01" not in edit and 'name="clear_redirect_key"' in edit           # write-only
    post(noc, "/noc/acs/nat1", {**FORM, "client_address_check": "1"})              # empty key: kept
    record = registry.get("nat1")
    assert record.client_address_check and record.redirect_key == "EAGkey01"
    resp = post(noc, "/noc/acs/nat1", {**FORM, "redirect_key": "short"})
    assert resp.status_code == 400 and "8 个字符" in resp.get_data(as_text=True)
    post(noc, "/noc/acs/nat1", {**FORM, "clear_redirect_key": "1"})
    assert registry.get("nat1").redirect_key == ""
    # The API: the same fields, the key never read back (nor audited).
    write = auth(token(redis_client, "write", "oss"))
    client = app.test_client()
    resp = client.patch("/api/v1/acs/nat1", json={"redirect_key": "EAGkey02", "client_address_check": False},
                        headers=write)
    assert resp.status_code == 200 and resp.get_json()["redirect_key_set"] is True
    assert resp.get_json()["client_address_check"] is False and "redirect_key" not in resp.get_json()
    assert_matches_openapi(app, "PATCH", "/acs/{ac_name}", resp)
    assert registry.get("nat1").redirect_key == "EAGkey02"
    assert "EAGkey02" not in audit_stream_text(redis_client)
    assert client.patch("/api/v1/acs/nat1", json={"redirect_key": "abc"}, headers=write).status_code == 400
    assert client.patch("/api/v1/acs/nat1", json={"redirect_key": ""}, headers=write).status_code == 200
    assert registry.get("nat1").redirect_key == ""
    # Seeded from [[acs]] like the other per-AC settings.
    from portal.runtime.settings import AcSeed
    seeded = AcRecord.from_seed(AcSeed(name="s1", addresses=("10.3.3.3",), secret="seed-secret-1",
                                       client_address_check=False, redirect_key="EAGkey03"))
    assert not seeded.client_address_check and seeded.redirect_key == "EAGkey03"
    default = AcRecord.from_seed(AcSeed(name="s2", addresses=("10.3.3.4",), secret="seed-secret-2"))
    assert default.client_address_check and not default.redirect_key


def test_message_authenticator_policies_and_realm_in_console_and_api(app: Flask, redis_client: Any) -> None:
    """Yes/no/auto or the global setting per AC (true/false from older clients read as
    yes/no), and the realm rule for RADIUS user names."""
    AcRegistry(redis_client).put(AcRecord(name="ac1", addresses=("10.0.0.1",), secret="old-secret-123"))
    noc = signed_in(app, redis_client)
    page = noc.get("/noc/acs/ac1").get_data(as_text=True)
    assert 'name="require_message_authenticator"' in page and 'name="limit_proxy_state"' in page
    form = {**FORM, "addresses": "10.0.0.1", "require_message_authenticator": "auto",
            "limit_proxy_state": "no"}
    form.pop("strip_realm", None)
    assert post(noc, "/noc/acs/ac1", form).status_code == 302
    record = AcRegistry(redis_client).get("ac1")
    assert (record.require_message_authenticator, record.limit_proxy_state, record.strip_realm) == (
        "auto", "no", False)
    bad = post(noc, "/noc/acs/ac1", {**form, "limit_proxy_state": "sometimes"})
    assert bad.status_code == 400 and "Message-Authenticator 设置须为" in bad.get_data(as_text=True)
    write = auth(token(redis_client, "write"))
    resp = app.test_client().patch("/api/v1/acs/ac1", json={"require_message_authenticator": True,
                                                            "limit_proxy_state": "", "strip_realm": True},
                                   headers=write)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["require_message_authenticator"] == "yes"
    assert_matches_openapi(app, "PATCH", "/acs/{ac_name}", resp)
    record = AcRegistry(redis_client).get("ac1")
    assert (record.require_message_authenticator, record.limit_proxy_state, record.strip_realm) == (
        "yes", "", True)
    resp = app.test_client().patch("/api/v1/acs/ac1", json={"limit_proxy_state": "maybe"}, headers=write)
    assert resp.status_code == 400


AC_ERRORS = [
    ({"addresses": "not-an-ip"}, "not an IP address"), ({"addresses": ""}, "at least one source address"),
    ({"port": "70000"}, "1-65535"), ({"vendor": "acme"}, "vendor profile"),
    ({"timeout": "abc"}, "Timeout must be"), ({"addresses": "10.9.9.9"}, "already belongs to AC other"),
    ({"secret": "short"}, "8-64 visible"), ({"name": "bad name"}, "use letters"),
]


def test_validation(app: Flask, redis_client: Any) -> None:
    AcRegistry(redis_client).put(AcRecord(name="other", addresses=("10.9.9.9",), secret="other-secret-1"))
    noc = signed_in(app, redis_client)
    noc.set_cookie("cw_lang", "en")
    for change, en in AC_ERRORS:
        resp = post(noc, "/noc/acs/new", {**FORM, "name": "ac1", **change})
        assert resp.status_code == 400 and en in resp.get_data(as_text=True), en
        assert AcRegistry(redis_client).names() == ["other"]


def test_script_injection_is_escaped(app: Flask, redis_client: Any) -> None:
    noc = signed_in(app, redis_client)
    assert post(noc, "/noc/acs/new", {**FORM, "name": "ac1", "description": XSS}).status_code == 201
    for path in ("/noc/acs", "/noc/acs/ac1"):
        html = noc.get(path).get_data(as_text=True)
        assert XSS not in html and "&lt;script&gt;" in html
    resp = post(noc, "/noc/acs/new", {**FORM, "name": "ac2", "addresses": XSS})
    assert resp.status_code == 400 and XSS not in resp.get_data(as_text=True)


def test_rotate_portal_only_pins_radius_secret(app: Flask, redis_client: Any) -> None:
    AcRegistry(redis_client).put(AcRecord(name="ac1", addresses=("10.0.0.1",), secret="old-secret-123"))
    noc = signed_in(app, redis_client)
    resp = post(noc, "/noc/acs/ac1/rotate", {"which": "portal"})
    assert resp.status_code == 200
    new = shown_secret(resp.get_data(as_text=True), "portal-secret")
    assert 'id="radius-secret"' not in resp.get_data(as_text=True)
    record = AcRegistry(redis_client).get("ac1")
    assert record.secret == new and record.effective_radius_secret == "old-secret-123"
    resp = post(noc, "/noc/acs/ac1/rotate", {"which": "radius", "radius_secret": "typed-radius-1"})
    assert resp.status_code == 200
    record = AcRegistry(redis_client).get("ac1")
    assert record.secret == new and record.radius_secret == "typed-radius-1"
    resp = post(noc, "/noc/acs/ac1/rotate", {"which": "both", "portal_secret": "no spaces allowed"})
    assert resp.status_code == 302 and AcRegistry(redis_client).get("ac1").secret == new
    entry = AuditLog(redis_client).recent(1, area="noc")[0]
    assert entry.action == "ac.rotate_secret" and entry.after == {"rotated": ["radius"]}
    text = audit_stream_text(redis_client)
    assert new not in text and "typed-radius-1" not in text


def test_live_state_from_radius_listener_and_sessions(app: Flask, redis_client: Any) -> None:
    AcRegistry(redis_client).put(AcRecord(name="ac1", addresses=("10.0.0.1",), secret="old-secret-123"))
    activity = AcActivity(redis_client, clock=lambda: 1_700_000_000.0)
    for _ in range(1000):
        activity.seen("ac1")
    activity.dropped("ac1", "bad_authenticator")
    activity.dropped("ac1", "bad_message_authenticator")
    assert redis_client.exists(keys.ac_stats("ac1")) == 0        # nothing written per packet
    assert activity.flush()
    redis_client.hset(keys.ac_stats("ac1"), mapping={"last_packet_at": "1700000100.5", "bad_auth": 3})
    SessionRegistry(redis_client).open(OnlineSession(ac="ac1", session_id="s1", phone="13800138000",
                                                     started=1, updated=2_000_000_000))
    noc = signed_in(app, redis_client)
    html = noc.get("/noc/acs/ac1").get_data(as_text=True)
    assert 'id="live-online">1<' in html and "RADIUS 2 · Portal 3" in html
    resp = app.test_client().get("/api/v1/acs/ac1", headers=auth(token(redis_client, "read")))
    live = resp.get_json()["live"]
    assert live["radius_rx"] == 1000 and live["radius_last_at"] == 1_700_000_000.0
    assert live["portal_last_at"] == 1700000100.5 and live["last_seen"] == 1700000100.5
    assert live["online_users"] == 1 and live["state"] == "silent"
    assert_matches_openapi(app, "GET", "/acs/{ac_name}", resp)


@pytest.mark.needs_radclient
@pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient not installed")
def test_rotation_then_radclient_new_secret_answered_old_refused(app: Flask, redis_client: Any,
                                                                 redis_url: str) -> None:
    register(redis_client)                              # ac1 on 127.0.0.1 with SECRET
    noc = signed_in(app, redis_client)
    with running_server(redis_url) as srv:              # registry cache TTL 0 in tests
        assert "Received Access-Accept" in radclient(srv.auth_port, "status", "Message-Authenticator=0x00")
        resp = post(noc, "/noc/acs/ac1/rotate", {"which": "both"})
        html = resp.get_data(as_text=True)
        new_radius = shown_secret(html, "radius-secret")
        assert new_radius != SECRET
        ok = radclient(srv.auth_port, "status", "Message-Authenticator=0x00", secret=new_radius)
        assert "Received Access-Accept" in ok
        old = radclient(srv.auth_port, "status", "Message-Authenticator=0x00", timeout=0.5)
        assert "Received" not in old
        acct = 'User-Name="13800138000", Acct-Session-Id="x1", Acct-Status-Type=Start'
        assert "Received Accounting-Response" in radclient(srv.acct_port, "acct", acct, secret=new_radius)
        assert "Received" not in radclient(srv.acct_port, "acct", acct, timeout=0.5)
        # No Redis write per packet: the activity counters wait for the once-a-second flush (this
        # User-Name-only Start is refused as unbound, and that refusal is booked with its log entry).
        buffered = redis_client.hgetall(keys.ac_stats("ac1"))
        assert b"radius_rx" not in buffered and not any(k.startswith(b"radius_drop") for k in buffered)
        srv.server.tick()                               # the once-a-second flush
    live = noc.get("/api/v1/acs/ac1", headers=auth(token(redis_client, "read"))).get_json()["live"]
    assert live["radius_drops"]["bad_message_authenticator"] >= 1
    assert live["radius_drops"]["bad_authenticator"] >= 1
    assert live["radius_rx"] >= 4 and live["state"] == "ok"


def test_rotation_then_portal_exchange_uses_new_secret(app: Flask, redis_client: Any) -> None:
    """The portal builds its AC endpoint from the registry: after a rotation an AC configured with
    the new secret logs users in; one still on the old secret is refused (replies do not verify)."""
    from ac_adapters.client import PortalClient
    from ac_adapters.simulator import SimConfig, SimulatedAc
    from portal.phone.login import endpoint_for
    from tests.conftest import free_udp_port

    users = {"13800138000": "otp0000"}
    registry = AcRegistry(redis_client)
    registry.put(AcRecord(name="ac1", addresses=("127.0.0.1",), secret="old-secret-123", timeout=1.0,
                          retries=2))
    resp = app.test_client().post("/api/v1/acs/ac1/rotate-secret", headers=auth(token(redis_client, "write")),
                                  json={"which": "portal", "portal_secret": "new-portal-secret-1"})
    assert resp.status_code == 200
    settings = services(app).settings
    with PortalClient(source_host="127.0.0.1") as client:
        for secret, ok in ((b"new-portal-secret-1", True), (b"old-secret-123", False)):
            config = SimConfig(flavour="huawei-v2", secret=secret, radius_host=None, local_users=users,
                               coa_port=None, portal_port=free_udp_port())
            with SimulatedAc(config) as sim:
                registry.put(dataclasses.replace(registry.get("ac1"), port=sim.port))
                sim.add_user("10.3.0.2", "aa:bb:cc:00:00:02")
                result = client.login(endpoint_for(registry.get("ac1"), settings), "10.3.0.2",
                                      "13800138000", "otp0000")
                assert result.ok is ok, result.diagnostic
                assert ("10.3.0.2" in sim.online()) is ok


def test_portal_login_outcomes_written_at_most_once_a_second(app: Flask, redis_client: Any) -> None:
    from portal.noc.ac_outcomes import AcOutcomes

    AcRegistry(redis_client).put(AcRecord(name="ac1", addresses=("10.0.0.1",), secret="old-secret-123"))
    now = [1_700_000_000.0]
    outcomes = AcOutcomes(redis_client, clock=lambda: now[0])

    def stats() -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in redis_client.hgetall(keys.ac_stats("ac1")).items()}

    outcomes.note("ac1", ok=True)                       # first note: written at once
    assert stats()["portal_login_ok"] == "1"
    for _ in range(99):                                 # the same second: buffered
        outcomes.note("ac1", ok=True)
    outcomes.note("ac1", ok=False, timed_out=True, bad_auth=True, error="no reply to REQ_CHALLENGE")
    assert stats()["portal_login_ok"] == "1" and "portal_timeout" not in stats()
    now[0] += 1.5
    outcomes.note("ac1", ok=False, error="<b>refused</b>")   # a second later: everything goes out
    assert stats()["portal_login_ok"] == "100" and stats()["portal_timeout"] == "1"
    assert stats()["portal_login_failed"] == "1" and stats()["portal_reply_bad_auth"] == "1"
    noc = signed_in(app, redis_client)
    html = noc.get("/noc/acs/ac1").get_data(as_text=True)
    assert 'id="live-portal-logins">100 / 1 / 1' in html and "&lt;b&gt;refused" in html
    resp = app.test_client().get("/api/v1/acs/ac1", headers=auth(token(redis_client, "read")))
    live = resp.get_json()["live"]
    assert live["portal_bad_authenticator"] == 1 and live["portal_last_error"] == "<b>refused</b>"
    assert live["portal_last_at"] == 1_700_000_000.0


# -- API -------------------------------------------------------------------------------------------

def test_api_auth_and_scopes(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    resp = client.get("/api/v1/acs")
    assert resp.status_code == 401
    assert_matches_openapi(app, "GET", "/acs", resp)
    read = auth(token(redis_client, "read"))
    for method, path in (("POST", "/api/v1/acs"), ("PATCH", "/api/v1/acs/ac1"),
                         ("POST", "/api/v1/acs/ac1/rotate-secret")):
        resp = client.open(path, method=method, json={"which": "both"}, headers=read)
        assert resp.status_code == 403
        assert_matches_openapi(app, method, path.replace("/api/v1", "").replace("ac1", "{ac_name}"), resp)


def test_api_lifecycle(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    read, write = auth(token(redis_client, "read")), auth(token(redis_client, "write", "oss"))
    resp = client.post("/api/v1/acs", json={"name": "ac1", "addresses": ["10.0.0.1"], "vendor": "cmcc"},
                       headers=write)
    assert resp.status_code == 201
    assert_matches_openapi(app, "POST", "/acs", resp)
    secret = resp.get_json()["portal_secret"]
    assert AcRegistry(redis_client).get("ac1").secret == secret
    resp = client.post("/api/v1/acs", json={"name": "ac1", "addresses": ["10.0.0.2"]}, headers=write)
    assert resp.status_code == 409
    assert_matches_openapi(app, "POST", "/acs", resp)
    resp = client.get("/api/v1/acs", headers=read)
    assert secret not in resp.get_data(as_text=True) and resp.get_json()["acs"][0]["live"]["state"] == "never"
    assert_matches_openapi(app, "GET", "/acs", resp)
    resp = client.patch("/api/v1/acs/ac1", json={"enabled": False, "description": "x"}, headers=write)
    assert resp.status_code == 200 and resp.get_json()["live"]["state"] == "disabled"
    assert_matches_openapi(app, "PATCH", "/acs/{ac_name}", resp)
    assert AuditLog(redis_client).recent(1, area="api")[0].action == "ac.disable"
    resp = client.post("/api/v1/acs/ac1/rotate-secret", json={"which": "radius"}, headers=write)
    assert resp.status_code == 200 and set(resp.get_json()) == {"name", "radius_secret"}
    assert_matches_openapi(app, "POST", "/acs/{ac_name}/rotate-secret", resp)
    record = AcRegistry(redis_client).get("ac1")
    assert record.radius_secret == resp.get_json()["radius_secret"] and record.secret == secret
    text = audit_stream_text(redis_client)
    assert record.radius_secret not in text and secret not in text
    resp = client.get("/api/v1/acs/nope", headers=read)
    assert resp.status_code == 404
    assert_matches_openapi(app, "GET", "/acs/{ac_name}", resp)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/v1/acs", {"name": "x", "addresses": ["nope"]}),
    ("POST", "/api/v1/acs", {"name": "x", "addresses": []}),
    ("POST", "/api/v1/acs", {"name": "x", "addresses": ["10.0.0.5"], "vendor": "acme"}),
    ("POST", "/api/v1/acs", {"name": "x", "addresses": ["10.0.0.5"], "secret": "short"}),
    ("POST", "/api/v1/acs", {"name": "x", "addresses": ["10.0.0.1"]}),          # address taken
    ("PATCH", "/api/v1/acs/ac1", {"secret": "new-secret-123"}),
    ("PATCH", "/api/v1/acs/ac1", {"port": 0}),
    ("PATCH", "/api/v1/acs/ac1", {"bas_ip": "1.2.3"}),
    ("POST", "/api/v1/acs/ac1/rotate-secret", {"which": "all"}),
    ("POST", "/api/v1/acs/ac1/rotate-secret", {"which": "both", "portal_secret": "has space 123"}),
])
def test_api_bad_input_is_4xx_with_message(app: Flask, redis_client: Any, method: str, path: str,
                                           body: Any) -> None:
    AcRegistry(redis_client).put(AcRecord(name="ac1", addresses=("10.0.0.1",), secret="old-secret-123"))
    resp = app.test_client().open(path, method=method, json=body, headers=auth(token(redis_client, "write")))
    assert 400 <= resp.status_code < 500
    error = resp.get_json()["error"]
    assert error["message"] and error["message_zh"]
    assert_matches_openapi(app, method, path.replace("/api/v1", "").replace("/ac1", "/{ac_name}"), resp)
    assert AcRegistry(redis_client).get("ac1").secret == "old-secret-123"
