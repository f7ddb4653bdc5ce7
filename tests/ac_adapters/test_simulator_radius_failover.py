"""The simulator's RADIUS server group: retransmissions fail over to the next server, a server
that timed out is skipped by new requests, and loading-share spreads requests over live ones."""

from __future__ import annotations

from ac_adapters.simulator import SimConfig, SimulatedAc
from tests.ac_adapters.sim_portal import MiniPortal, RadiusPeer, wait_for

PHONE, OTP = "13800138000", "654321"


def _login(portal: MiniPortal, ip: str) -> int:
    ack = portal.challenge(ip)
    assert ack is not None
    result = portal.auth_chap(ip, PHONE, OTP, ack)
    assert result is not None
    return int(result.err_code)


def test_retransmission_fails_over_and_dead_server_is_skipped() -> None:
    dead = RadiusPeer(users={PHONE: OTP}, silent=True)
    live = RadiusPeer(users={PHONE: OTP})
    ac = SimulatedAc(SimConfig(
        radius_auth_port=dead.auth_port, radius_acct_port=dead.acct_port,
        radius_fallbacks=(("127.0.0.1", live.auth_port, live.acct_port),),
        radius_timeout=0.3, radius_retries=3, radius_dead_time=30.0, coa_port=None, tick=0.01,
    )).start()
    portal = MiniPortal(ac.port)
    try:
        assert _login(portal, "10.3.0.1") == 0          # primary silent → second try on the backup
        assert len(dead.auth_requests) == 1 and len(live.auth_requests) == 1
        assert dead.auth_requests[0]["Message-Authenticator"] == \
            live.auth_requests[0]["Message-Authenticator"]      # the same packet, re-sent
        assert ac.radius is not None and ac.radius.stats["failovers"] == 1
        assert _login(portal, "10.3.0.2") == 0          # the dead primary is skipped now
        assert len(dead.auth_requests) == 1 and len(live.auth_requests) == 2
        assert ac.radius.replies_by_server[1] >= 2
    finally:
        portal.close()
        ac.stop(wait=0.5)
        dead.close()
        live.close()


def test_loading_share_uses_both_servers() -> None:
    a = RadiusPeer(users={PHONE: OTP})
    b = RadiusPeer(users={PHONE: OTP})
    ac = SimulatedAc(SimConfig(
        radius_auth_port=a.auth_port, radius_acct_port=a.acct_port,
        radius_fallbacks=(("127.0.0.1", b.auth_port, b.acct_port),), radius_balance=True,
        coa_port=None, tick=0.01,
    )).start()
    portal = MiniPortal(ac.port)
    try:
        for i in range(4):
            assert _login(portal, f"10.3.1.{i + 1}") == 0
        assert len(a.auth_requests) == 2 and len(b.auth_requests) == 2
        assert wait_for(lambda: len(a.acct_requests) + len(b.acct_requests) == 4)
        assert a.acct_requests and b.acct_requests
    finally:
        portal.close()
        ac.stop(wait=0.5)
        a.close()
        b.close()


def test_ac_sim_command_takes_a_radius_server_group() -> None:
    import argparse

    from portal.commands.ac_sim import add_arguments, build_config
    from portal.runtime.settings import Settings

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--radius", "127.0.0.1:21812", "--radius", "127.0.0.2:31812",
                              "--radius-balance"])
    cfg = build_config(args, Settings())
    assert (cfg.radius_host, cfg.radius_auth_port, cfg.radius_acct_port) == ("127.0.0.1", 21812, 21813)
    assert cfg.radius_fallbacks == (("127.0.0.2", 31812, 31813),) and cfg.radius_balance
    single = build_config(parser.parse_args(["--radius", "10.0.0.1"]), Settings())
    assert (single.radius_host, single.radius_auth_port, single.radius_fallbacks) == ("10.0.0.1", 1812, ())
    assert not single.radius_balance
