"""End to end: a login through the AC simulator is authorised by our RADIUS server, the
simulator reports usage with Interim-Updates, and when the plan's volume quota is used up our
server sends an RFC 5176 Disconnect-Request that the simulator obeys — within one interim
interval. Also the Portal-protocol fallback (REQ_LOGOUT) for an AC without RFC 5176.

Real parts only: Redis, the RADIUS server `citywifi radius` runs (build_server), the simulator's
real RADIUS client and DM server, the real Portal client, all on loopback.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from ac_adapters.client import AcEndpoint, PortalClient
from ac_adapters.profiles import PROFILES
from portal.aaa.acs import AcRegistry
from portal.aaa.credentials import CredentialStore
from portal.aaa.plans import Plan
from portal.aaa.sessions import SessionRegistry
from tests.e2e.stack import AC_NAME, SECRET, running_stack, user, wait_for

INTERIM = 1.0            # the simulator's interim interval (seconds)
RATE = 40_000.0          # simulated download bytes/s (upload is a fifth of it)
QUOTA = 100_000          # daily volume of the plan (octets, both directions)


def _login(stack: Any, i: int, number: str) -> tuple[str, str]:
    ip, mac = user(i)
    stack.ac.add_user(ip, mac)
    cred = CredentialStore(stack.redis).mint_login_token(number, mac)
    endpoint = AcEndpoint(host="127.0.0.1", port=stack.ac.port, profile=PROFILES["huawei-v2"],
                          secret=SECRET.encode(), timeout=1.0, retries=2)
    with PortalClient(source_host="127.0.0.1") as client:
        result = client.login(endpoint, ip, cred.username, cred.password, mac=mac)
    assert result.ok, result
    return ip, mac


def _stop_record(stack: Any, ip: str) -> dict[str, Any] | None:
    for attrs in reversed(stack.ac.accounting_log):
        if attrs.get("Framed-IP-Address") == ip and attrs["Acct-Status-Type"] == 2:
            return dict(attrs)
    return None


def _octets(attrs: dict[str, Any]) -> int:
    giga = 2**32
    return (attrs.get("Acct-Input-Octets", 0) + attrs.get("Acct-Input-Gigawords", 0) * giga
            + attrs.get("Acct-Output-Octets", 0) + attrs.get("Acct-Output-Gigawords", 0) * giga)


@pytest.fixture
def tiny_plan() -> Plan:
    return Plan(name="tiny", up_kbps=1000, down_kbps=4000, daily_volume=QUOTA, max_sessions=2)


def test_quota_exhausted_mid_session_is_disconnected_within_one_interim(
    redis_client: Any, redis_url: str, data_dir: Path, tiny_plan: Plan
) -> None:
    sim = {"coa_port": 0, "interim_interval": INTERIM, "traffic_rate": RATE}
    with running_stack(redis_client, redis_url, data_dir, sim=sim, plan=tiny_plan) as stack:
        registry = AcRegistry(redis_client)
        registry.put(dataclasses.replace(registry.get(AC_NAME), rfc5176=True, coa_port=stack.ac.coa_port))
        ip, _mac = _login(stack, 1, "18900000001")
        assert ip in stack.ac.online()
        # Our server opened the session from Accounting-Start.
        assert wait_for(lambda: SessionRegistry(redis_client).count_for_phone("18900000001") == 1, 5)

        # Usage grows ~48 kB/s; the quota (100 kB) is gone after ~2.1 s. The simulator must
        # then be told to disconnect by our server (it never cuts anyone by itself here).
        assert wait_for(lambda: ip not in stack.ac.online(), timeout=10), "never disconnected"
        assert stack.ac.stats["dm_disconnect_ack"] >= 1          # it was an RFC 5176 Disconnect
        stop = _stop_record(stack, ip)
        assert stop is not None and stop["Acct-Terminate-Cause"] == 6    # Admin-Reset
        used = _octets(stop)
        per_interim = RATE * 1.2 * INTERIM
        # Cut within one interim interval of exhaustion: the Interim-Update that first shows
        # usage ≥ quota triggers the Disconnect, so at most ~two intervals of traffic beyond it
        # (the interval in which it crossed, plus the DM round trip) can have passed.
        assert QUOTA <= used <= QUOTA + 2 * per_interim + 10_000, used
        # The portal's view follows: the session is closed in Redis after the Stop.
        assert wait_for(lambda: SessionRegistry(redis_client).count_for_phone("18900000001") == 0, 5)


def test_quota_enforced_through_portal_logout_when_ac_lacks_rfc5176(
    redis_client: Any, redis_url: str, data_dir: Path, tiny_plan: Plan
) -> None:
    sim = {"coa_port": None, "interim_interval": INTERIM, "traffic_rate": RATE}
    with running_stack(redis_client, redis_url, data_dir, sim=sim, plan=tiny_plan) as stack:
        ip, _mac = _login(stack, 2, "18900000002")          # seeded AC has rfc5176=False
        started = time.monotonic()
        assert wait_for(lambda: ip not in stack.ac.online(), timeout=10), "never logged out"
        assert time.monotonic() - started < QUOTA / (RATE * 1.2) + 3 * INTERIM + 2
        assert stack.ac.stats["dm_received"] == 0                # no DM server on this AC
        stop = _stop_record(stack, ip)
        assert stop is not None
        assert _octets(stop) >= QUOTA


def test_exhausted_user_is_refused_on_the_next_login(
    redis_client: Any, redis_url: str, data_dir: Path, tiny_plan: Plan
) -> None:
    sim = {"coa_port": 0, "interim_interval": INTERIM, "traffic_rate": RATE}
    with running_stack(redis_client, redis_url, data_dir, sim=sim, plan=tiny_plan) as stack:
        registry = AcRegistry(redis_client)
        registry.put(dataclasses.replace(registry.get(AC_NAME), rfc5176=True, coa_port=stack.ac.coa_port))
        ip, mac = _login(stack, 3, "18900000003")
        assert wait_for(lambda: ip not in stack.ac.online(), timeout=10)
        cred = CredentialStore(redis_client).mint_login_token("18900000003", mac)
        endpoint = AcEndpoint(host="127.0.0.1", port=stack.ac.port, profile=PROFILES["huawei-v2"],
                              secret=SECRET.encode(), timeout=1.0, retries=2)
        with PortalClient(source_host="127.0.0.1") as client:
            again = client.login(endpoint, ip, cred.username, cred.password, mac=mac)
        assert not again.ok and again.err_code == 1
        # The AC passes the RADIUS Reply-Message on in TextInfo: the user learns why, in zh and en.
        assert "流量" in again.text and "data allowance" in again.text, again.text


def test_venue_plan_applies_on_the_ac(redis_client: Any, redis_url: str, data_dir: Path) -> None:
    """A venue's own plan (set by its operator) is what RADIUS sends to the AC, not the default."""
    from portal.venues.venue_store import VenueStore

    with running_stack(redis_client, redis_url, data_dir) as stack:
        stack.plans.put(Plan(name="venue-vip", up_kbps=3000, down_kbps=30000, session_timeout=1234))
        venues = VenueStore(redis_client)
        venues.put(dataclasses.replace(venues.get("library"), default_plan="venue-vip"))
        ip, _ = _login(stack, 4, "18900000004")
        online = stack.ac.online()[ip]
        assert online.session_timeout == 1234          # from the venue's plan, not "basic" (4 h)
        assert online.rates.get("Huawei-Input-Average-Rate") == 3000 * 1000
        assert online.class_ is not None and b"|venue-vip|" in online.class_
