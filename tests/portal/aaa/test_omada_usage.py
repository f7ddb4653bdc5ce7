"""Omada usage from the controller's Open API (portal/aaa/omada_usage.py, polled by the controller
usage round) against the fake controller over loopback HTTP, with real Redis: counters that
restart per connection are added up, an offline client keeps its session, the authorisation's
end closes it and books the usage once; token and credential faults are survived."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ac_adapters.gateways import GatewayLimits
from ac_adapters.gateways.omada import auth_payload
from ac_adapters.gateways.omada_api import omada_for
from ac_adapters.gateways.omada_openapi import OmadaOpenApi, split_credential
from portal.aaa.acs import AcRecord, AcRegistry, ValidationError
from portal.aaa.controller_usage import UnifiUsagePoller
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.aaa.usage import UsageBook
from portal.state import keys
from tests.fakes.omada_controller import FakeOmadaController

SITE = "Hotel-Lobby"
CID = "5f3c9e0a1b2c3d4e5f607182"
USER, PASSWORD = "portal-op", "omada-operator-pass-1"
APP = ("a1b2c3d4e5f60718", "f0e1d2c3b4a5968778695a4b")
CREDENTIAL = f"{APP[0]}:{APP[1]}"
AP = "AC-84-C6-00-00-01"
MB = 1_000_000


@pytest.fixture
def controller() -> Iterator[FakeOmadaController]:
    fake = FakeOmadaController(user=USER, password=PASSWORD, cid=CID, sites=(SITE,), openapi=APP).start()
    yield fake
    fake.stop()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def register(redis: Any, controller: FakeOmadaController, credential: str = CREDENTIAL) -> None:
    AcRegistry(redis).put(AcRecord(name=SITE, kind="omada", addresses=("127.0.0.5",), secret=PASSWORD,
                                   controller_url=controller.url(), rfc5176=False, client_address_check=False,
                                   openapi_client=credential))


@pytest.fixture
def poller(redis_client: Any, controller: FakeOmadaController, clock: Clock) -> UnifiUsagePoller:
    register(redis_client, controller)
    return UnifiUsagePoller(redis_client, timeout=2.0, clock=clock)


def grant(redis: Any, controller: FakeOmadaController, clock: Clock, omada_mac: str, phone: str,
          seconds: int = 3600) -> OnlineSession:
    """What the portal's login does (gateway_login._exchange): extPortal/auth, then our session."""
    state = {"site": SITE, "clientMac": omada_mac, "apMac": AP, "ssidName": "Hotel", "radioId": "1"}
    payload = auth_payload(state, GatewayLimits(session_seconds=seconds))
    omada_for(controller.url(), PASSWORD).authorize(payload)
    now = int(clock())
    mac = omada_mac.lower().replace("-", ":")
    session = OnlineSession(ac=SITE, session_id=f"omada-{mac.replace(':', '')}-{now}", phone=phone, mac=mac,
                            ip="fe80::1", started=now, updated=now, interim=seconds // 2 + 1, plan="basic")
    SessionRegistry(redis).open(session)
    return session


def logouts(redis: Any) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in raw.items()}
            for _id, raw in redis.xrange(keys.real_name_log()) if raw.get(b"kind") == b"logout"]


def test_counters_add_up_across_reconnects_and_the_end_books_once(
        redis_client: Any, controller: FakeOmadaController, poller: UnifiUsagePoller, clock: Clock) -> None:
    phone, omada_mac = "13900000001", "02-F0-00-00-01-01"
    session = grant(redis_client, controller, clock, omada_mac, phone, seconds=1800)
    controller.use(SITE, omada_mac, up=1 * MB, down=5 * MB)
    report = poller.poll()
    assert (report.gateways, report.updated, report.closed, report.failed) == (1, 1, 0, 0)
    (live,) = SessionRegistry(redis_client).by_phone(phone)
    assert (live.input_octets, live.output_octets) == (1 * MB, 5 * MB)   # trafficUp = upload
    controller.use(SITE, omada_mac, up=1 * MB, down=4 * MB)
    poller.poll()
    # The phone reconnects: Omada's counters restart at 0; ours go on from where they were.
    controller.reconnect(SITE, omada_mac)
    controller.use(SITE, omada_mac, up=1 * MB, down=2 * MB)
    poller.poll()
    (live,) = SessionRegistry(redis_client).by_phone(phone)
    assert (live.input_octets, live.output_octets) == (3 * MB, 11 * MB)
    # Offline for a while (asleep, roaming): the authorisation may still run; nothing is closed.
    controller.disconnect(SITE, omada_mac)
    clock.now += 600
    assert poller.poll().closed == 0
    (live,) = SessionRegistry(redis_client).by_phone(phone)
    assert live.output_octets == 11 * MB and live.session_time >= 600
    assert UsageBook(redis_client).get(phone, clock.now).daily_volume == 0     # booked at the end
    # The authorised time has passed: closed with its counters, booked once.
    clock.now = session.started + 1801
    assert poller.poll().closed == 1
    assert SessionRegistry(redis_client).by_phone(phone) == []
    usage = UsageBook(redis_client).get(phone, clock.now)
    assert (usage.daily_volume, usage.daily_time) == (14 * MB, 1800)
    (record,) = logouts(redis_client)
    assert (record["cause"], record["in"], record["out"]) == ("omada:expired", str(3 * MB), str(11 * MB))
    assert poller.poll().closed == 0 and UsageBook(redis_client).get(phone, clock.now).daily_volume == 14 * MB


def test_a_new_login_of_the_mac_replaces_the_session_without_counting_twice(
        redis_client: Any, controller: FakeOmadaController, poller: UnifiUsagePoller, clock: Clock) -> None:
    phone, omada_mac = "13900000002", "02-F0-00-00-01-02"
    first = grant(redis_client, controller, clock, omada_mac, phone)
    controller.use(SITE, omada_mac, up=2 * MB, down=6 * MB)
    poller.poll()
    clock.now += 30
    second = grant(redis_client, controller, clock, omada_mac, phone)       # the same connection
    controller.use(SITE, omada_mac, up=1 * MB, down=1 * MB)
    report = poller.poll()
    assert report.closed == 1
    (live,) = SessionRegistry(redis_client).by_phone(phone)
    assert live.session_id == second.session_id
    assert (live.input_octets, live.output_octets) == (1 * MB, 1 * MB)      # only what came after
    (record,) = logouts(redis_client)
    assert (record["sid"], record["cause"]) == (first.session_id, "omada:replaced")
    assert record["out"] == str(6 * MB)


def test_expired_token_is_replaced_and_wrong_credentials_keep_sessions(
        redis_client: Any, controller: FakeOmadaController, poller: UnifiUsagePoller, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    phone, omada_mac = "13900000003", "02-F0-00-00-01-03"
    grant(redis_client, controller, clock, omada_mac, phone)
    assert poller.poll().updated == 1 and controller.token_requests == 1
    poller.poll()
    assert controller.token_requests == 1                    # the token is kept while it is valid
    controller.expire_tokens()                               # -44112 on the next call
    controller.use(SITE, omada_mac, down=3 * MB)
    report = poller.poll()
    assert (report.updated, report.failed) == (1, 0) and controller.token_requests == 2
    (live,) = SessionRegistry(redis_client).by_phone(phone)
    assert live.output_octets == 3 * MB
    # The application's secret was changed on the controller: -44106, counted and logged once.
    register(redis_client, controller, credential=f"{APP[0]}:wrongsecret0000")
    with caplog.at_level(logging.WARNING, logger="citywifi.gateway.usage"):
        assert poller.poll().failed == 1
        assert poller.poll().failed == 1
    warned = [r.getMessage() for r in caplog.records if "not polled" in r.getMessage()]
    assert len(warned) == 1 and "Omada gateway" in warned[0] and "-44106" in warned[0], warned
    assert len(SessionRegistry(redis_client).by_phone(phone)) == 1       # kept as they were
    # An entry without an application is not polled at all (the reaper closes its sessions).
    register(redis_client, controller, credential="")
    assert poller.poll().gateways == 0


def test_client_list_pages_and_site_lookup(controller: FakeOmadaController) -> None:
    for n in range(1203):                                    # three pages of 500
        mac = f"02-AA-00-00-{n // 256:02X}-{n % 256:02X}"
        controller.online[SITE][mac] = controller._row(mac)
    api = OmadaOpenApi(controller.url(), CREDENTIAL, timeout=2.0)
    clients = api.clients(SITE)
    assert len(clients) == 1203 and "02:aa:00:00:04:b2" in clients
    assert api.site_id(controller.site_ids[SITE]) == controller.site_ids[SITE]      # by id as well
    assert split_credential("nocolon") == ("", "")


def test_the_credential_belongs_to_an_omada_entry_only() -> None:
    with pytest.raises(ValidationError):
        AcRecord(name="u1", kind="unifi", addresses=("127.0.0.5",), secret=PASSWORD, rfc5176=False,
                 controller_url="https://op@127.0.0.1:8443", openapi_client=CREDENTIAL)
    with pytest.raises(ValidationError):
        AcRecord(name="o1", kind="omada", addresses=("127.0.0.5",), secret=PASSWORD, rfc5176=False,
                 controller_url=f"https://op@127.0.0.1:8043/{CID}", openapi_client="id only")
