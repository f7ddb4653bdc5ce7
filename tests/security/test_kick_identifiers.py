"""A kick is reported done only when it happened.

The AC's Accounting-Start (sent by Debian's radclient to our RADIUS server) carries
``Calling-Station-Id = AA-BB-CC-00-00-41`` and a realm-qualified User-Name. A NAS that looks
sessions up by comparing strings (``FakeDmServer`` with a session table) knows the session only
under those exact strings. Before the fix the Disconnect-Request carried ``aa:bb:cc:00:00:41``,
the NAS answered NAK 503 (Session Context Not Found), and the code reported that as success:
the NOC saw a kick that never happened while the phone stayed online.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from ac_adapters.radius_dialects import DIALECTS
from portal.aaa.acs import AcRegistry
from portal.aaa.plans import PlanStore
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.aaa.usage import UsageBook
from portal.noc.kick import NocActions
from radius.enforcement import Enforcer
from tests.e2e.stack import wait_for
from tests.fakes.dm_server import FakeDmServer
from tests.radius.serverkit import HAVE_RADCLIENT, SECRET, radclient, register, running_server, signed_class

pytestmark = pytest.mark.skipif(not HAVE_RADCLIENT, reason="Debian's radclient is not installed")

PHONE = "18900000041"
NAS_USER = "18900000041@default"     # the "domain included" user-name format of Huawei/H3C ACs
NAS_MAC = "AA-BB-CC-00-00-41"        # as the AC writes it; normalised: aa:bb:cc:00:00:41
SID = "0A0B0C0D-41"
USER_IP = "10.0.0.41"
NAS_ID = "AC-Lobby-01"


def _nas_session() -> dict[str, str]:
    return {"User-Name": NAS_USER, "Acct-Session-Id": SID, "Framed-IP-Address": USER_IP,
            "Calling-Station-Id": NAS_MAC, "NAS-Identifier": NAS_ID}


def _start(acct_port: int) -> str:
    klass = signed_class(PHONE, "basic").hex()    # the Class our Accept gave this AC
    return radclient(acct_port, "acct", "\n".join((
        "Acct-Status-Type = Start", f"User-Name = {NAS_USER}", f"Acct-Session-Id = {SID}",
        f"Calling-Station-Id = {NAS_MAC}", f"Framed-IP-Address = {USER_IP}",
        "NAS-IP-Address = 127.0.0.1", f"NAS-Identifier = {NAS_ID}", f"Class = 0x{klass}",
        "Acct-Session-Time = 0", "Acct-Input-Octets = 0", "Acct-Output-Octets = 0",
    )) + "\n")


class Kicker:
    def __init__(self, redis: Any, portal_ok: bool) -> None:
        self.portal_calls: list[tuple[str, str | None]] = []

        def portal_logout(_ac: Any, ip: str, mac: str | None) -> bool:
            self.portal_calls.append((ip, mac))
            return portal_ok

        self.enforcer = Enforcer(redis, timeout=0.3, retries=2, portal_logout=portal_logout)
        self.noc = NocActions(redis, self.enforcer, plans=PlanStore(redis), usage=UsageBook(redis))


@pytest.fixture
def online(redis_client: Any, redis_url: str) -> Iterator[tuple[FakeDmServer, OnlineSession]]:
    """The phone online through the real accounting path; its NAS answers DM by string lookup."""
    with FakeDmServer(SECRET.encode(), sessions=[_nas_session()], nas_ip="127.0.0.1") as dm:
        register(redis_client, coa_port=dm.port)
        with running_server(redis_url) as server:
            out = _start(server.acct_port)
            assert "Accounting-Response" in out, out
        (session,) = SessionRegistry(redis_client).by_phone(PHONE)
        yield dm, session


def test_the_disconnect_repeats_what_the_ac_sent_and_the_nas_acks(
        redis_client: Any, online: tuple[FakeDmServer, OnlineSession]) -> None:
    dm, session = online
    assert session.mac == "aa:bb:cc:00:00:41" and session.user_name == NAS_USER
    kicker = Kicker(redis_client, portal_ok=False)
    (outcome,) = kicker.noc.kick_phone(PHONE)
    assert dm.attr(0, "Calling-Station-Id") == NAS_MAC
    assert dm.attr(0, "User-Name") == NAS_USER
    assert dm.attr(0, "Acct-Session-Id") == SID
    assert dm.attr(0, "NAS-IP-Address") == "127.0.0.1"
    assert (outcome.ok, outcome.outcome, outcome.error_cause) == (True, "dm", None)
    assert dm.sessions == [] and kicker.portal_calls == []      # really gone on the NAS
    assert SessionRegistry(redis_client).by_phone(PHONE) == []


def test_nak_503_while_accounting_shows_the_session_is_not_a_kick(
        redis_client: Any, online: tuple[FakeDmServer, OnlineSession]) -> None:
    """The NAS does not recognise the session (here: it holds it under another MAC spelling),
    accounting says it is up, and the Portal fallback does not confirm: the NOC must see a
    failure, and the session stays listed as online."""
    dm, _session = online
    assert dm.sessions is not None
    dm.sessions[0]["Calling-Station-Id"] = "aabb.cc00.0041"
    kicker = Kicker(redis_client, portal_ok=False)
    (outcome,) = kicker.noc.kick_phone(PHONE)
    assert outcome.error_cause == 503 and outcome.ok is False
    assert outcome.outcome == "not_found" and "503" in outcome.message_en
    assert kicker.portal_calls == [(USER_IP, "aa:bb:cc:00:00:41")]   # the fallback was tried
    assert len(SessionRegistry(redis_client).by_phone(PHONE)) == 1


def test_nak_503_then_a_confirmed_portal_logout_is_a_kick_by_portal(
        redis_client: Any, online: tuple[FakeDmServer, OnlineSession]) -> None:
    dm, _session = online
    assert dm.sessions is not None
    dm.sessions.clear()
    kicker = Kicker(redis_client, portal_ok=True)
    (outcome,) = kicker.noc.kick_phone(PHONE)
    assert (outcome.ok, outcome.method, outcome.outcome) == (True, "portal", "portal")
    assert SessionRegistry(redis_client).by_phone(PHONE) == []


def test_nak_503_for_a_session_accounting_already_closed_is_gone(
        redis_client: Any, online: tuple[FakeDmServer, OnlineSession]) -> None:
    """The AC's Stop arrived while the NOC clicked: the NAS rightly knows no such session."""
    dm, session = online
    assert dm.sessions is not None
    dm.sessions.clear()
    SessionRegistry(redis_client).close(session.ac, session.session_id, session.phone)
    kicker = Kicker(redis_client, portal_ok=False)
    result = kicker.enforcer.disconnect(session)
    assert (result.ok, result.method, result.error_cause) == (True, "dm", 503)
    assert kicker.portal_calls == []


def test_interims_keep_the_identifiers_of_the_start(
        redis_client: Any, redis_url: str) -> None:
    """Raw identifiers come from the record that created the session; the first Interim after a
    lost Start creates it just as well."""
    with FakeDmServer(SECRET.encode(), sessions=[_nas_session()], nas_ip="127.0.0.1") as dm:
        register(redis_client, coa_port=dm.port)
        with running_server(redis_url) as server:
            out = radclient(server.acct_port, "acct", "\n".join((
                "Acct-Status-Type = Interim-Update", f"User-Name = {NAS_USER}",
                f"Acct-Session-Id = {SID}", f"Calling-Station-Id = {NAS_MAC}",
                f"Framed-IP-Address = {USER_IP}", f"NAS-Identifier = {NAS_ID}",
                "Acct-Session-Time = 60", "Acct-Input-Octets = 10", "Acct-Output-Octets = 20",
                f"Class = 0x{signed_class(PHONE, 'basic').hex()}",
            )) + "\n")
            assert "Accounting-Response" in out, out
        assert wait_for(lambda: SessionRegistry(redis_client).by_phone(PHONE), 5)
        (session,) = SessionRegistry(redis_client).by_phone(PHONE)
        assert session.calling_station_id == NAS_MAC and session.nas_id("ni") == NAS_ID
        assert session.nas_id("na") is None          # this AC sent no NAS-IP-Address
        result = Kicker(redis_client, portal_ok=False).enforcer.disconnect(session)
        assert result.ok and dm.attr(0, "Calling-Station-Id") == NAS_MAC


@pytest.mark.parametrize(("dialect", "sent"), [
    ("cisco", {"NAS-IP-Address", "Calling-Station-Id", "Acct-Session-Id"}),
    ("aruba", {"User-Name", "Acct-Session-Id", "Framed-IP-Address", "Calling-Station-Id"}),
])
def test_each_dialect_sends_the_identifiers_its_nas_expects(
        redis_client: Any, online: tuple[FakeDmServer, OnlineSession], dialect: str,
        sent: set[str]) -> None:
    dm, session = online
    registry = AcRegistry(redis_client)
    registry.put(dataclasses.replace(registry.get("ac1"), radius_dialect=dialect))
    assert set(DIALECTS[dialect].disconnect_ids) == sent
    result = Kicker(redis_client, portal_ok=False).enforcer.disconnect(session)
    assert result.ok
    pkt = dm.received[0]
    names = {n for n in pkt.keys() if n not in ("Event-Timestamp", "Message-Authenticator")}  # noqa: SIM118
    assert names == sent
    assert dm.attr(0, "Calling-Station-Id") == NAS_MAC
