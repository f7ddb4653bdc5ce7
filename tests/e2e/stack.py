"""A whole phone-journey stack in one test process, on loopback with free ports:

real Redis (the session fixture) · the real RADIUS server (portal.commands.radius.build_server, in a
thread) · the AC simulator pointed at it · the portal listener (NTF_LOGOUT / MAC-trigger) with
the journey's hooks · a ``PhoneJourney``. The web tests wrap it in the Flask app; the e2e tests
additionally serve that app with a real HTTP server.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ac_adapters.client import AcEndpoint, PortalClient
from ac_adapters.listener import PortalListener
from ac_adapters.profiles import PROFILES
from ac_adapters.simulator import SimConfig, SimulatedAc
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.blocklist import Blocklist
from portal.aaa.credentials import CredentialStore
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import SessionRegistry
from portal.commands.radius import build_server
from portal.phone.listener_handler import PortalListenerHandler
from portal.phone.login import PhoneJourney, Signer
from portal.phone.login_parts import journey_parts
from portal.phone.otp import OtpService
from portal.phone.phone_policy import build_number_policy
from portal.phone.sms_queue import SmsQueue
from portal.runtime.settings import (
    ContentSettings,
    OtpSettings,
    PortalClientSettings,
    RadiusSettings,
    RedisSettings,
    Settings,
    WebSettings,
)
from portal.state import keys
from portal.venues.venue_store import Venue, VenueStore
from radius.server import ACCT, AUTH, bind_udp
from tests.conftest import free_udp_port

SECRET = "sim-secret-0123456789"
AC_NAME = "sim-ac"
SSID = "CityWiFi"
OPERATOR_URL = "https://www.operator.example.cn/welcome"
VENUE_URL = "https://library.example.cn/"


def phone(i: int) -> str:
    """A China Telecom number (the default number policy allows telecom only)."""
    return f"189{i:08d}"


def user(i: int) -> tuple[str, str]:
    """(IP, MAC) of simulated phone ``i``."""
    return f"10.{20 + i // 60000}.{(i // 250) % 240}.{i % 250 + 2}", f"02:5e:{(i >> 16) & 255:02x}:" \
        f"{(i >> 8) & 255:02x}:{i & 255:02x}:01"


def wait_for(pred: Callable[[], object], timeout: float = 5.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


class StackClock:
    """The journey's clock: real time plus whatever a test skipped with :meth:`advance`, so a
    test waits out an ad countdown without sleeping through it (the AC, RADIUS and Redis TTLs
    keep real time; a skip of a few seconds is within every grace period they allow)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Stack:
    redis: Any
    settings: Settings
    journey: PhoneJourney
    ac: SimulatedAc
    listener: PortalListener
    radius_auth_port: int
    plans: PlanStore
    venues: VenueStore
    extras: dict[str, Any] = field(default_factory=dict)
    clock: StackClock = field(default_factory=StackClock)

    def redirect(self, i: int, portal_url: str = "http://portal.test/portal") -> str:
        ip, mac = user(i)
        self.ac.add_user(ip, mac)
        return self.ac.redirect_url(ip, portal_url)

    def query(self, i: int) -> str:
        return self.redirect(i).split("?", 1)[1]

    def last_code(self, number: str) -> str:
        """The code of the newest SMS job queued for ``number`` (what the sms-worker would send)."""
        for _id, fields in reversed(self.redis.xrange(keys.sms_stream())):
            job = SmsQueue(self.redis).job(fields[b"job_id"].decode())
            if job is not None and job.phone == number:
                return job.params["code"]
        raise AssertionError(f"no SMS queued for {number}")


def make_settings(redis_url: str, data_dir: Path, ac_timeout: float = 0.5, **web: Any) -> Settings:
    web_cfg = dataclasses.replace(WebSettings(),
                                  redirect_hosts=("library.example.cn", ".operator.example.cn"),
                                  operator_url=OPERATOR_URL, secret_key="k" * 32, **web)
    return Settings(
        data_dir=data_dir, redis=RedisSettings(url=redis_url),
        # Short AC timeout by default so the "AC timeout" error tests stay fast.
        portal_client=PortalClientSettings(timeout=ac_timeout, retries=2, source_host="127.0.0.1"),
        radius=dataclasses.replace(RadiusSettings(), ac_cache_ttl=0.0),
        # Generous SMS limits: many phones behind one AC and one test IP.
        otp=OtpSettings(
            per_ip_hour=100000, per_ip_day=100000, per_ac_minute=100000, global_per_minute=100000,
            per_source_hour=100000, per_source_day=100000,
            per_mac_hour=1000, per_mac_day=1000, per_phone_hour=1000, per_phone_day=1000,
            hmac_key="h" * 32),
        web=web_cfg,
        content=ContentSettings(writes_per_minute=0, writes_per_hour=0),   # tested on its own
    )


def seed(redis: Any, *, sim_port: int, mac_auth: bool = False, plan: Plan | None = None,
         venue: Venue | None = None, client_address_check: bool = False) -> tuple[PlanStore, VenueStore]:
    # The simulated phones (10.x) are played by test clients on loopback: like phones behind NAT,
    # their addresses are not what the portal sees, so the AC's address check is off unless a test
    # plays phones from their own loopback addresses (tests/security).
    AcRegistry(redis).put(AcRecord(name=AC_NAME, addresses=("127.0.0.1",), secret=SECRET, port=sim_port,
                                   rfc5176=False, mac_auth=mac_auth,
                                   client_address_check=client_address_check))
    plans = PlanStore(redis, cache_ttl=0.0)
    plans.put(plan or Plan(name="basic", title_zh="基础套餐", up_kbps=2000, down_kbps=8000,
                           daily_time=4 * 3600, max_sessions=2, mac_binding_days=7))
    plans.assign("default", "", (plan or Plan(name="basic")).name)
    venues = VenueStore(redis, cache_ttl=0.0)
    venues.put(venue or Venue(id="library", name_zh="市图书馆", name_en="City Library", acs=(AC_NAME,),
                              ssids=(SSID,), redirect_url=VENUE_URL, redirect_delay=1, ad_seconds=2,
                              silent_mac_login=True))
    return plans, venues


@contextmanager
def running_stack(redis: Any, redis_url: str, data_dir: Path, *, mac_trigger: bool = False,
                  sim: dict[str, Any] | None = None, web: dict[str, Any] | None = None,
                  plan: Plan | None = None, venue: Venue | None = None,
                  ac_timeout: float = 0.5, client_address_check: bool = False) -> Iterator[Stack]:
    settings = make_settings(redis_url, data_dir, ac_timeout, **(web or {}))
    # RADIUS server in a thread (the same build_server `citywifi radius` runs).
    server = build_server(settings)
    auth_port, acct_port = free_udp_port(), free_udp_port()
    server.add_socket(bind_udp("127.0.0.1", auth_port), AUTH)
    server.add_socket(bind_udp("127.0.0.1", acct_port), ACCT)
    stop = threading.Event()
    radius_thread = threading.Thread(target=server.serve_forever, args=(stop.is_set, 0.05), daemon=True)
    radius_thread.start()
    journey_box: list[PhoneJourney] = []
    # Listener first (the simulator needs its port), hooks bound to the journey built below.
    handler = PortalListenerHandler(
        redis, cache_ttl=0.0,
        on_session_closed=lambda ac, ip, mac, cause: journey_box[0].close(ac, ip, mac, cause),
        on_mac_bound=lambda ac, mac, ip, _b: threading.Timer(
            0.05, journey_box[0].silent_login, args=(ac, mac, ip)).start(),
        silent_login_allowed=lambda ac, ssid: journey_box[0].silent_login_allowed(ac, ssid),
    )
    listener = PortalListener("127.0.0.1", 0, handler)
    listener.start()
    cfg = SimConfig(port=0, secret=SECRET.encode(), radius_auth_port=auth_port, radius_acct_port=acct_port,
                    radius_secret=SECRET.encode(), portal_port=listener.port,
                    ssid=SSID, mac_trigger=mac_trigger, tick=0.02, **{"coa_port": None, **(sim or {})})
    ac = SimulatedAc(cfg).start()
    plans, venues = seed(redis, sim_port=ac.port, mac_auth=mac_trigger, plan=plan, venue=venue,
                         client_address_check=client_address_check)
    otp = OtpService(redis, settings.otp, settings.otp.hmac_key.encode(),
                     policy=build_number_policy(settings.number_policy, redis), blocklist=Blocklist(redis))
    clock = StackClock()
    journey = PhoneJourney(redis, settings, journey_parts(
        settings, redis, otp=otp, signer=Signer(settings.web.secret_key.encode()), clock=clock))
    journey.venues.cache_ttl = 0.0
    journey.plans.cache_ttl = 0.0
    journey_box.append(journey)
    try:
        yield Stack(redis, settings, journey, ac, listener, auth_port, plans, venues, clock=clock,
                    extras={"acct_port": acct_port})
    finally:
        ac.stop(wait=1.0)
        listener.stop()
        stop.set()
        radius_thread.join(5)
        server.close()
        if journey._client is not None:
            journey._client.close()


def login_through_ac(stack: Stack, i: int) -> tuple[str, str, str]:
    """Phone ``i`` logs in through the simulator with a minted login token (Portal protocol, then
    our RADIUS server); returns (number, ip, mac) once accounting has opened its session."""
    number = phone(i)
    ip, mac = user(i)
    stack.ac.add_user(ip, mac)
    cred = CredentialStore(stack.redis).mint_login_token(number, mac)
    endpoint = AcEndpoint(host="127.0.0.1", port=stack.ac.port, profile=PROFILES["huawei-v2"],
                          secret=SECRET.encode(), timeout=1.0, retries=2)
    with PortalClient(source_host="127.0.0.1") as client:
        assert client.login(endpoint, ip, cred.username, cred.password, mac=mac).ok
    # Our RADIUS server opened the session from the simulator's Accounting-Start.
    assert wait_for(lambda: SessionRegistry(stack.redis).by_phone(number), 5)
    return number, ip, mac


def enable_rfc5176(stack: Stack) -> None:
    """Register the simulator as an RFC 5176 AC (DM/CoA to its port); start the stack with
    ``sim={"coa_port": 0}``."""
    registry = AcRegistry(stack.redis)
    assert stack.ac.coa_port is not None
    registry.put(dataclasses.replace(registry.get(AC_NAME), rfc5176=True, coa_port=stack.ac.coa_port))


def stack_app(stack: Stack, settings: Settings | None = None) -> Any:
    """The Flask app on ``stack``'s settings (or ``settings``, a variant of them) and Redis,
    sharing its phone journey (whose caches are off and whose client the stack closes): what
    phone-page and console tests drive over HTTP."""
    from portal.web import build_services, create_app

    return create_app(build_services(settings if settings is not None else stack.settings,
                                     stack.redis, journey=stack.journey))


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """``app`` on a real threaded HTTP server on 127.0.0.1 (all of 127/8 reaches it); its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.socket.listen(256)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
