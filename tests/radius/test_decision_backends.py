"""One set of authorisation decisions, run through the whole RADIUS chain on every backend.

The decision is written once (``portal.aaa.decision.decide``), but how its reads travel depends on
the deployment: plain Redis takes the one-round-trip batch path (``radius.batch_reads`` through
a ``RespClient``), Sentinel and Cluster take redis-py (``portal.aaa.authorizer.Authorizer.decide``), and
MAC authentication has its own reads. Each test here starts the real server the way the
deployment would (``portal.commands.radius.build_server`` picks the path), sends a real Access-Request
over loopback UDP and checks the reply, on a plain redis-server, a Sentinel group (master,
replica, three sentinels) and a three-master Redis Cluster.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pyrad.packet import AccessAccept, AccessReject

from portal.aaa.blocklist import Blocklist
from portal.aaa.credentials import CredentialStore
from portal.aaa.grants import REFUSAL_MESSAGES, parse_class
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.usage import day_of
from portal.commands.radius import build_server
from portal.runtime.settings import QuotaSettings, RadiusSettings, RedisSettings, Settings
from portal.state import connect, keys
from radius.server import AUTH, bind_udp
from tests.conftest import free_udp_port
from tests.radius.serverkit import CLASS_KEY, MAC, PHONE, access_request, decode_reply, exchange, register
from tests.scale.cluster import RedisClusterProcs, SentinelGroup

OTHER_MAC = "11-22-33-44-55-77"
BACKENDS = ("plain", "sentinel", "cluster")


@pytest.fixture(scope="module")
def sentinel_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path_factory.mktemp("sentinel")).start()
    try:
        yield group
    finally:
        group.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcs]:
    procs = RedisClusterProcs(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield procs
    finally:
        procs.stop()


@dataclasses.dataclass
class Backend:
    name: str
    settings: RedisSettings
    redis: Any            # a redis-py client on the backend, to arrange state and read it back


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "plain":
        client = request.getfixturevalue("redis_client")          # emptied for this test
        yield Backend("plain", RedisSettings(url=request.getfixturevalue("redis_url")), client)
        return
    if request.param == "sentinel":
        group = request.getfixturevalue("sentinel_group")
        cfg = RedisSettings(sentinels=group.addresses, sentinel_master=group.name, socket_timeout=2.0)
    else:
        procs = request.getfixturevalue("cluster")
        cfg = RedisSettings(url=procs.url, cluster=True, socket_timeout=2.0)
    client = connect(cfg)
    if request.param == "sentinel":
        client.flushall()
    else:
        procs.flushall()
    try:
        yield Backend(request.param, cfg, client)
    finally:
        client.close()


class Chain:
    """The RADIUS server built for a backend, serving on a loopback UDP port in a thread."""

    def __init__(self, backend: Backend) -> None:
        settings = Settings(redis=backend.settings, quota=QuotaSettings(plan_cache_ttl=0.0),
                            radius=dataclasses.replace(RadiusSettings(), ac_cache_ttl=0.0,
                                                       class_key=CLASS_KEY))
        self.server = build_server(settings, reaper=False)
        # The deployment's choice of path, which these tests exist to cover on each backend.
        assert (self.server.auth_handler.fast is not None) == (backend.name == "plain")
        self.port = free_udp_port()
        self.server.add_socket(bind_udp("127.0.0.1", self.port), AUTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.server.serve_forever, args=(self._stop.is_set, 0.05),
                                        daemon=True)
        self._thread.start()

    def ask(self, **attrs: Any) -> Any:
        req = access_request(**attrs)
        raw = exchange(self.port, req.RequestPacket(), timeout=10.0)   # a loaded machine is slow
        assert raw is not None, "no reply"
        return decode_reply(req, raw)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


@pytest.fixture
def chain(backend: Backend) -> Iterator[Callable[[], Chain]]:
    started: list[Chain] = []

    def start() -> Chain:   # after the test has arranged its state
        started.append(Chain(backend))
        return started[-1]

    try:
        yield start
    finally:
        for one in started:
            one.close()


def with_plan(redis: Any, plan: Plan) -> None:
    """AC ac1 and ``plan`` as the default plan everywhere."""
    register(redis)
    store = PlanStore(redis)
    store.put(plan)
    store.assign("default", "", plan.name)


def bound_login(redis: Any, mac: str = MAC) -> dict[str, Any]:
    """An Access-Request of a device bound to PHONE (its reusable credential)."""
    cred = CredentialStore(redis).bind_mac(mac, PHONE, days=3)
    return {"User_Name": PHONE, "password": cred.password, "Calling_Station_Id": mac}


def today() -> str:
    return day_of(time.time(), ZoneInfo(QuotaSettings().timezone))


def refused(reply: Any, code: str) -> None:
    zh, en = REFUSAL_MESSAGES[code]
    assert reply.code == AccessReject
    assert reply["Reply-Message"] == [f"{zh} / {en}"]


QUOTA_CASES = {
    "daily_time_used": ({"daily_time": 600}, {"dt": 600}),
    "total_time_used": ({"total_time": 600}, {"tt": 600}),
    "daily_volume_used": ({"daily_volume": 1000}, {"dv": 1000}),
    "total_volume_used": ({"total_volume": 1000}, {"tv": 1000}),
    "expired": ({"valid_until": int(time.time()) - 60}, {}),
}


@pytest.mark.parametrize("code", sorted(QUOTA_CASES))
def test_quota_refusal_names_its_reason(backend: Backend, chain: Callable[[], Chain], code: str) -> None:
    limits, used = QUOTA_CASES[code]
    with_plan(backend.redis, Plan(name="metered", **limits))
    backend.redis.hset(keys.usage(PHONE), mapping={"d": today(), **used})
    login = bound_login(backend.redis)
    srv = chain()
    refused(srv.ask(**login), code)
    assert srv.server.metrics.get(f"reject.{code}") == 1


def test_yesterdays_daily_usage_does_not_count(backend: Backend, chain: Callable[[], Chain]) -> None:
    with_plan(backend.redis, Plan(name="daily", daily_time=600))
    backend.redis.hset(keys.usage(PHONE), mapping={"d": "20000101", "dt": 600})
    reply = chain().ask(**bound_login(backend.redis))
    assert reply.code == AccessAccept
    assert 0 < reply["Session-Timeout"][0] <= 600       # today's whole allowance, no more


@pytest.mark.parametrize("kind", ["phone", "mac"])
def test_blocklist_refuses_by_phone_and_by_mac(backend: Backend, chain: Callable[[], Chain],
                                               kind: str) -> None:
    register(backend.redis)
    login = bound_login(backend.redis)
    Blocklist(backend.redis).block(kind, PHONE if kind == "phone" else MAC, "abuse")
    srv = chain()
    reply = srv.ask(**login)
    assert reply.code == AccessReject and srv.server.metrics.get("reject.blocked") == 1
    Blocklist(backend.redis).unblock(kind, PHONE if kind == "phone" else MAC)
    assert srv.ask(**login).code == AccessAccept


def test_unreadable_blocklist_entry_refuses(backend: Backend, chain: Callable[[], Chain]) -> None:
    register(backend.redis)
    login = bound_login(backend.redis)
    backend.redis.hset(keys.blocked_macs(), "11:22:33:44:55:66", b"{not json")   # fail closed
    srv = chain()
    assert srv.ask(**login).code == AccessReject
    assert srv.server.metrics.get("reject.blocked") == 1


def test_plan_override_wins_over_the_default(backend: Backend, chain: Callable[[], Chain]) -> None:
    register(backend.redis)
    PlanStore(backend.redis).put(Plan(name="gold", session_timeout=1234))
    PlanStore(backend.redis).assign_user(PHONE, "gold")
    reply = chain().ask(**bound_login(backend.redis))
    assert reply.code == AccessAccept
    info = parse_class(reply["Class"][0])
    assert info is not None and info.plan == "gold" and info.phone == PHONE
    assert reply["Session-Timeout"] == [1234]


def test_validity_counts_from_the_first_login(backend: Backend, chain: Callable[[], Chain]) -> None:
    with_plan(backend.redis, Plan(name="week", validity_days=7))
    login = bound_login(backend.redis)
    srv = chain()
    before = time.time()
    reply = srv.ask(**login)
    assert reply.code == AccessAccept
    assert 7 * 86400 - 60 <= reply["Session-Timeout"][0] <= 7 * 86400
    first = float(backend.redis.hget(keys.usage(PHONE), "f"))        # the clock started
    assert before - 1 <= first <= time.time() + 1
    backend.redis.hset(keys.usage(PHONE), "f", repr(time.time() - 8 * 86400))
    refused(srv.ask(**login), "expired")


def test_daily_time_left_caps_the_session(backend: Backend, chain: Callable[[], Chain]) -> None:
    with_plan(backend.redis, Plan(name="daily", daily_time=3600))
    backend.redis.hset(keys.usage(PHONE), mapping={"d": today(), "dt": 3000})
    reply = chain().ask(**bound_login(backend.redis))
    assert reply.code == AccessAccept
    assert 0 < reply["Session-Timeout"][0] <= 600


def test_max_sessions_refuses_a_second_device(backend: Backend, chain: Callable[[], Chain]) -> None:
    with_plan(backend.redis, Plan(name="single", max_sessions=1))
    first, second = bound_login(backend.redis), bound_login(backend.redis, OTHER_MAC)
    srv = chain()
    assert srv.ask(**first).code == AccessAccept
    refused(srv.ask(**second), "too_many_devices")
    assert srv.ask(**first).code == AccessAccept         # its own slot: the same device again


def test_mac_authentication_takes_the_same_decision(backend: Backend, chain: Callable[[], Chain]) -> None:
    register(backend.redis, mac_auth=True)
    PlanStore(backend.redis).put(Plan(name="metered", daily_volume=1000))
    PlanStore(backend.redis).assign_user(PHONE, "metered")
    CredentialStore(backend.redis).bind_mac(MAC, PHONE, days=3)
    login = {"User_Name": "112233445566", "password": "112233445566", "Calling_Station_Id": MAC}
    srv = chain()
    reply = srv.ask(**login)
    assert reply.code == AccessAccept
    info = parse_class(reply["Class"][0])
    assert info is not None and info.plan == "metered" and info.phone == PHONE
    backend.redis.hset(keys.usage(PHONE), mapping={"d": today(), "dv": 1000})
    refused(srv.ask(**login), "daily_volume_used")
    Blocklist(backend.redis).block("mac", MAC, "stolen")
    assert srv.ask(**login).code == AccessReject
    assert srv.server.metrics.get("reject.blocked") == 1
