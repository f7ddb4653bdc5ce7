"""The simulator's RADIUS client against a real RADIUS server: Debian's FreeRADIUS 3.2 on loopback."""

from __future__ import annotations

import pytest

from ac_adapters.profiles import PROFILES
from ac_adapters.simulator import SimConfig, SimulatedAc
from tests.ac_adapters.freeradius import FREERADIUS_USER, REJECT_MESSAGE, FreeRadius, freeradius
from tests.ac_adapters.sim_portal import MiniPortal, wait_for

__all__ = ["freeradius"]   # the fixture, imported for pytest

pytestmark = pytest.mark.needs_freeradius
USER, PASSWORD = FREERADIUS_USER


def make(server: FreeRadius, flavour: str = "huawei-v2") -> SimulatedAc:
    return SimulatedAc(SimConfig(
        flavour=flavour, radius_auth_port=server.auth_port, radius_acct_port=server.acct_port,
        radius_secret=server.secret, coa_port=None, tick=0.01,
    )).start()


@pytest.mark.parametrize("flavour", sorted(PROFILES))
def test_chap_and_pap_accept_and_accounting(freeradius: FreeRadius, flavour: str) -> None:
    ac = make(freeradius, flavour)
    portal = MiniPortal(ac.port, flavour)
    try:
        chap = portal.login_chap("10.3.0.1", USER, PASSWORD, mac="aa:bb:cc:00:03:01")
        assert chap is not None and chap.err_code == 0, chap
        pap = portal.auth_pap("10.3.0.2", USER, PASSWORD)
        assert pap is not None and pap.err_code == 0, pap
        online = ac.online()
        assert online["10.3.0.1"].session_timeout == 3600        # from the users file
        assert online["10.3.0.1"].interim_interval == 60
        assert online["10.3.0.1"].class_ == b"citywifi"
        sid = online["10.3.0.1"].session_id
        bye = portal.logout("10.3.0.1")
        assert bye is not None and bye.err_code == 0
        # FreeRADIUS answered Start and Stop (its default accounting writes the detail file).
        assert wait_for(lambda: ac.stats["acct_responses"] >= 3, timeout=5)
        assert ac.stats["acct_timeouts"] == 0
        detail = freeradius.detail_text()
        assert f'Acct-Session-Id = "{sid}"' in detail
        assert "Acct-Status-Type = Stop" in detail and "Acct-Terminate-Cause = User-Request" in detail
        assert 'Class = 0x6369747977696669' in detail
    finally:
        portal.close()
        ac.stop(wait=2)


def test_wrong_password_errcode_1_with_reply_message(freeradius: FreeRadius) -> None:
    ac = make(freeradius)
    portal = MiniPortal(ac.port)
    try:
        ack = portal.challenge("10.3.0.3")
        assert ack is not None
        bad = portal.auth_chap("10.3.0.3", USER, "not-it", ack)
        assert bad is not None and bad.err_code == 1
        assert REJECT_MESSAGE in bad.text()
        assert "10.3.0.3" not in ac.online()
        pap = portal.auth_pap("10.3.0.4", USER, "not-it")
        assert pap is not None and pap.err_code == 1 and REJECT_MESSAGE in pap.text()
    finally:
        portal.close()
        ac.stop(wait=1)
