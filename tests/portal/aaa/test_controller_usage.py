"""The UniFi usage poller (portal/aaa/controller_usage.py) against the fake controller over loopback
HTTP, with real Redis: counters updated, expired and unauthorised guests closed with their usage
booked once and a real-name logout record, controller faults survived."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ac_adapters.gateways.unifi_api import controller_for
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.controller_usage import UnifiUsagePoller, guest_octets, pick_guest
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.aaa.usage import UsageBook
from portal.state import keys
from tests.fakes.unifi_controller import FakeUnifiController

SITE = "cafe1x2y"
PASSWORD = "controller-pass-0123"
MB = 1_000_000


@pytest.fixture
def controller() -> Iterator[FakeUnifiController]:
    fake = FakeUnifiController(user="hotspot", password=PASSWORD, sites=(SITE,)).start()
    yield fake
    fake.down = False
    fake.stop()


@pytest.fixture
def poller(redis_client: Any, controller: FakeUnifiController) -> UnifiUsagePoller:
    AcRegistry(redis_client).put(AcRecord(
        name=SITE, kind="unifi", addresses=("127.0.0.4",), secret=PASSWORD,
        controller_url=controller.url(), rfc5176=False, client_address_check=False))
    return UnifiUsagePoller(redis_client, timeout=2.0)


def grant(redis: Any, controller: FakeUnifiController, mac: str, phone: str, *, minutes: int = 60,
          cap_mb: int = 0, ago: int = 0) -> OnlineSession:
    """What the portal's login does: authorise-guest on the controller, then our session."""
    payload: dict[str, Any] = {"cmd": "authorize-guest", "mac": mac, "minutes": minutes}
    if cap_mb:
        payload["bytes"] = cap_mb
    controller_for(controller.url(), PASSWORD).authorize(SITE, payload)
    now = int(time.time()) - ago
    controller.guests[SITE][mac]["start"] -= ago
    session = OnlineSession(ac=SITE, session_id=f"unifi-{mac.replace(':', '')}-{now}", phone=phone,
                            mac=mac, ip="fe80::1", started=now, updated=now, interim=minutes * 30 + 1,
                            plan="basic")
    SessionRegistry(redis).open(session)
    return session


def logouts(redis: Any) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in raw.items()}
            for _id, raw in redis.xrange(keys.real_name_log())
            if raw.get(b"kind") == b"logout"]


def test_counters_update_then_expiry_closes_and_books_once(
        redis_client: Any, controller: FakeUnifiController, poller: UnifiUsagePoller) -> None:
    phone, mac = "13800000001", "02:e0:00:00:00:11"
    session = grant(redis_client, controller, mac, phone)
    controller.use(SITE, mac, rx=3 * MB, tx=20 * MB)
    report = poller.poll()
    assert (report.gateways, report.updated, report.closed, report.failed) == (1, 1, 0, 0)
    (live,) = SessionRegistry(redis_client).by_phone(phone)
    assert (live.input_octets, live.output_octets) == (3 * MB, 20 * MB)
    assert UsageBook(redis_client).get(phone, time.time()).daily_volume == 0   # booked at the end only
    controller.use(SITE, mac, rx=1 * MB, tx=6 * MB)
    controller.expire_guest(SITE, mac, ago=5)
    report = poller.poll()
    assert (report.updated, report.closed) == (0, 1)
    assert SessionRegistry(redis_client).by_phone(phone) == []
    usage = UsageBook(redis_client).get(phone, time.time())
    assert usage.daily_volume == 30 * MB
    (record,) = logouts(redis_client)
    assert (record["cause"], record["sid"], record["in"], record["out"]) == (
        "unifi:expired", session.session_id, str(4 * MB), str(26 * MB))
    # A later round (or another process) finds nothing to book again.
    assert poller.poll().closed == 0
    assert UsageBook(redis_client).get(phone, time.time()).daily_volume == 30 * MB
    assert len(logouts(redis_client)) == 1


def test_quota_cut_off_and_unauthorised_guests_close(
        redis_client: Any, controller: FakeUnifiController, poller: UnifiUsagePoller) -> None:
    capped, gone, other = "02:e0:00:00:00:21", "02:e0:00:00:00:22", "02:e0:00:00:00:23"
    grant(redis_client, controller, capped, "13800000002", cap_mb=10)
    grant(redis_client, controller, gone, "13800000003")
    grant(redis_client, controller, other, "13800000004")
    controller.use(SITE, gone, tx=2 * MB)
    poller.poll()
    controller.use(SITE, capped, tx=11 * MB)                  # over its cap: the controller ends it
    controller.guests[SITE].pop(gone)                         # forgotten by the controller
    report = poller.poll()
    assert (report.closed, report.updated) == (2, 1)
    causes = {r["mac"]: r["cause"] for r in logouts(redis_client)}
    assert causes == {capped: "unifi:expired", gone: "unifi:unauthorized"}
    book = UsageBook(redis_client)
    assert book.get("13800000002", time.time()).daily_volume == 11 * MB
    assert book.get("13800000003", time.time()).daily_volume == 2 * MB    # the last counters polled
    assert [s.mac for s in SessionRegistry(redis_client).by_ac(SITE)] == [other]


def test_an_older_authorisation_is_not_this_session(redis_client: Any) -> None:
    guests = [{"mac": "02:e0:00:00:00:31", "start": 1000, "end": 2000, "expired": True},
              {"mac": "02:e0:00:00:00:31", "start": 5000, "end": 9000, "expired": False}]
    assert pick_guest(guests, "02:e0:00:00:00:31", 5100) is guests[1]
    assert pick_guest(guests, "02:e0:00:00:00:31", 9000) is None
    assert pick_guest(guests, "02:e0:00:00:00:32", 5000) is None


def test_expired_login_session_relogs_and_controller_down_keeps_sessions(
        redis_client: Any, controller: FakeUnifiController, poller: UnifiUsagePoller,
        caplog: pytest.LogCaptureFixture) -> None:
    phone, mac = "13800000005", "02:e0:00:00:00:41"
    grant(redis_client, controller, mac, phone)
    logins = controller.logins
    controller.expire_sessions()                              # the controller's idle timeout
    controller.use(SITE, mac, tx=1 * MB)
    assert poller.poll().updated == 1 and controller.logins == logins + 1
    controller.down = True
    with caplog.at_level(logging.WARNING, logger="citywifi.gateway.usage"):
        for _ in range(3):
            report = poller.poll()
            assert (report.failed, report.closed, report.updated) == (1, 0, 0)
    assert poller.failures[SITE] == 3
    assert len([r for r in caplog.records if "not polled" in r.getMessage()]) == 1   # rate-limited
    (kept,) = SessionRegistry(redis_client).by_phone(phone)
    assert kept.output_octets == 1 * MB
    controller.down = False                                   # back: the next round catches up
    controller.use(SITE, mac, tx=4 * MB)
    assert poller.poll().updated == 1 and SITE not in poller.failures
    (kept,) = SessionRegistry(redis_client).by_phone(phone)
    assert kept.output_octets == 5 * MB


def test_one_process_of_the_fleet_polls_per_interval(
        redis_client: Any, controller: FakeUnifiController, poller: UnifiUsagePoller) -> None:
    grant(redis_client, controller, "02:e0:00:00:00:51", "13800000006")
    other = UnifiUsagePoller(redis_client, timeout=2.0)
    assert poller.poll_if_due(60) is not None
    assert other.poll_if_due(60) is None and controller.polls == 1


def test_the_maintenance_loop_polls(redis_client: Any, controller: FakeUnifiController,
                                    poller: UnifiUsagePoller) -> None:
    """radius/reaper.py's loop (the RADIUS maintenance process) runs the poller every round."""
    import threading

    from radius.reaper import run_reaper

    phone, mac = "13800000007", "02:e0:00:00:00:61"
    grant(redis_client, controller, mac, phone)
    controller.use(SITE, mac, tx=7 * MB)
    controller.expire_guest(SITE, mac)
    stop = threading.Event()
    worker = threading.Thread(target=run_reaper, args=(redis_client,),
                              kwargs={"interval": 0.05, "stop": stop, "poll_interval": 1,
                                      "repair_interval": 0})
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while SessionRegistry(redis_client).by_phone(phone) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive() and SessionRegistry(redis_client).by_phone(phone) == []
    assert UsageBook(redis_client).get(phone, time.time()).daily_volume == 7 * MB


def test_a_later_login_of_the_mac_replaces_the_session(
        redis_client: Any, controller: FakeUnifiController, poller: UnifiUsagePoller) -> None:
    """Logged in again before a poll saw the first authorisation end: the first session is
    booked with its own counters, the second keeps the new authorisation's."""
    phone, mac = "13800000008", "02:e0:00:00:00:71"
    grant(redis_client, controller, mac, phone, ago=600)      # the first login, ten minutes ago
    controller.use(SITE, mac, tx=3 * MB)
    second = grant(redis_client, controller, mac, phone)   # authorize-guest replaces the first
    controller.use(SITE, mac, tx=1 * MB)
    report = poller.poll()
    assert (report.closed, report.updated) == (1, 1)
    (live,) = SessionRegistry(redis_client).by_phone(phone)
    assert live.session_id == second.session_id and live.output_octets == 1 * MB
    assert UsageBook(redis_client).get(phone, time.time()).daily_volume == 3 * MB
    assert [r["cause"] for r in logouts(redis_client)] == ["unifi:replaced"]


def test_rx_is_the_guests_upload_and_tx_its_download(
        redis_client: Any, controller: FakeUnifiController, poller: UnifiUsagePoller) -> None:
    """UniFi counts from the access point's side (controller_usage.guest_octets cites where this
    is established): a guest that downloads a lot shows it in tx_bytes, which must become the
    session's output octets (download), the NOC's and the real-name log's "out"."""
    assert guest_octets({"rx_bytes": 7, "tx_bytes": 900}) == (7, 900)
    phone, mac = "13800000009", "02:e0:00:00:00:99"
    grant(redis_client, controller, mac, phone)
    controller.use(SITE, mac, rx=1 * MB, tx=40 * MB)           # a video: little up, much down
    poller.poll()
    (live,) = SessionRegistry(redis_client).by_phone(phone)
    assert (live.input_octets, live.output_octets) == (1 * MB, 40 * MB)
    controller.expire_guest(SITE, mac, ago=1)
    poller.poll()
    (record,) = logouts(redis_client)
    assert (record["in"], record["out"]) == (str(1 * MB), str(40 * MB))
