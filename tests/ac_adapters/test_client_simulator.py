"""The portal client against H8's AC simulator (ac_adapters.simulator) in local_users mode."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from ac_adapters.client import AcEndpoint, PortalClient
from ac_adapters.profiles import PROFILES
from ac_adapters.simulator import SimConfig, SimulatedAc
from tests.conftest import free_udp_port

SECRET = b"sim-secret"
USERS = {f"1380013{i:04d}": f"otp{i:04d}" for i in range(40)}


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def client() -> Iterator[PortalClient]:
    with PortalClient(source_host="127.0.0.1") as c:
        yield c


def simulator(flavour: str) -> SimulatedAc:
    return SimulatedAc(SimConfig(
        flavour=flavour, secret=SECRET, radius_host=None, local_users=USERS, coa_port=None,
        portal_port=free_udp_port()))


def endpoint(sim: SimulatedAc, flavour: str, **kw: object) -> AcEndpoint:
    opts: dict = {"secret": SECRET, "bas_ip": "127.0.0.1", "timeout": 3.0, "retries": 3}
    opts.update(kw)
    return AcEndpoint("127.0.0.1", sim.port, profile=PROFILES[flavour], **opts)


@pytest.mark.parametrize("flavour", ["huawei-v2", "huawei-v1", "h3c", "cmcc", "hanming"])
def test_chap_login_relogin_logout(client: PortalClient, flavour: str) -> None:
    with simulator(flavour) as sim:
        ep = endpoint(sim, flavour)
        sim.add_user("10.3.0.2", "aa:bb:cc:00:00:02")
        res = client.login(ep, "10.3.0.2", "13800130000", "otp0000", mac="aa:bb:cc:00:00:02")
        assert res.ok and res.err_code == 0 and not res.already_online, res.diagnostic
        user = sim.online()["10.3.0.2"]
        assert user.username == "13800130000" and user.auth == "chap"
        assert wait_until(lambda: sim.online()["10.3.0.2"].affirmed)     # AFF_ACK_AUTH arrived
        again = client.login(ep, "10.3.0.2", "13800130000", "otp0000")
        assert again.ok and again.already_online and again.err_code == 2
        out = client.logout(ep, "10.3.0.2")
        assert out.ok, out.diagnostic
        assert "10.3.0.2" not in sim.online()


@pytest.mark.parametrize("flavour", ["huawei-v2", "cmcc"])
def test_wrong_password_and_pap(client: PortalClient, flavour: str) -> None:
    with simulator(flavour) as sim:
        ep = endpoint(sim, flavour)
        bad = client.login(ep, "10.3.0.3", "13800130001", "wrong")
        assert not bad.ok and bad.err_code == 1 and bad.stage == "auth" and not bad.timed_out
        pap = client.login(ep, "10.3.0.4", "13800130001", "otp0001", pap=True)
        assert pap.ok, pap.diagnostic
        assert sim.online()["10.3.0.4"].auth == "pap"
        assert client.logout(ep, "10.3.0.4", pap=True).ok


def test_wrong_secret_times_out_with_diagnostic(client: PortalClient) -> None:
    with simulator("huawei-v2") as sim:
        res = client.login(endpoint(sim, "huawei-v2", secret=b"nope", timeout=0.2, retries=2),
                           "10.3.0.5", "13800130002", "otp0002")
        assert res.timed_out and "wrong shared secret" in res.diagnostic
        assert sim.online() == {}


def test_concurrent_logins_against_the_simulator(client: PortalClient) -> None:
    with simulator("huawei-v2") as sim:
        ep = endpoint(sim, "huawei-v2", timeout=5.0)
        names = list(USERS)
        with ThreadPoolExecutor(max_workers=40) as pool:
            results = list(pool.map(
                lambda i: client.login(ep, f"10.4.0.{i + 1}", names[i], USERS[names[i]]), range(40)))
        assert all(r.ok for r in results), [r.diagnostic for r in results if not r.ok][:3]
        online = {ip: u.username for ip, u in sim.online().items()}
        assert online == {f"10.4.0.{i + 1}": names[i] for i in range(40)}
        assert len({r.req_id for r in results}) == 40
