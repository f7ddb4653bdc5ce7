"""A captured NTF_LOGOUT replayed from the AC's address must not log a newer login out.

An attack run captured the AC's NTF_LOGOUT after a kick, let the phone log in again and resent
the datagram from the AC's address: the listener ACKed it and ended the new login on the portal
side while its RADIUS session went on. Identical bytes can also be a real new event (an EAG-style
AC sends every NTF_LOGOUT with SerialNo 0, tests/portal/phone/test_listener_eag_ntf.py), so a repeat
for a newer login is acted upon only when accounting corroborates it (``portal.aaa.ntf_replay``).
Real Redis, the real RADIUS server, the AC simulator and the listener on loopback UDP.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from portal.aaa.ntf_replay import held_key
from portal.aaa.sessions import SessionRegistry
from portal.state import keys
from tests.e2e.stack import AC_NAME, Stack, running_stack, wait_for
from tests.portal.phone.test_login import first_login


def record_ntf(stack: Stack) -> list[bytes]:
    sent: list[bytes] = []
    send = stack.ac._ntf._send

    def recording_send(raw: bytes) -> None:     # what the simulated AC puts on the wire
        sent.append(raw)
        send(raw)

    stack.ac._ntf._send = recording_send
    return sent


def online_at(stack: Stack, ip: str) -> bool:
    return any(s.ac == AC_NAME for s in SessionRegistry(stack.redis).by_ip(ip))


def kick_and_relogin(stack: Stack, i: int, sent: list[bytes]) -> tuple[str, str, bytes]:
    ctx, _ = first_login(stack, i)
    login = keys.portal_login(AC_NAME, ctx.user_ip)
    assert stack.ac.kick(ctx.user_ip)
    assert wait_for(lambda: not stack.redis.exists(login) and not online_at(stack, ctx.user_ip))
    assert len(sent) == 1
    assert stack.journey.silent_login(AC_NAME, ctx.mac, ctx.user_ip)     # the phone is back
    assert wait_for(lambda: online_at(stack, ctx.user_ip))
    assert stack.redis.exists(login)
    return ctx.user_ip, login, sent[0]


def test_a_replayed_ntf_logout_does_not_end_a_newer_login(
    redis_client: Any, redis_url: str, data_dir: Path
) -> None:
    with running_stack(redis_client, redis_url, data_dir) as stack:
        sent = record_ntf(stack)
        ip, login, captured = kick_and_relogin(stack, 51, sent)
        before = stack.listener.stats.get("suspected_replays", 0)
        stack.ac._send_to_portal(captured)          # from the AC's own address, signed, ACKed
        assert wait_for(lambda: stack.listener.stats.get("suspected_replays", 0) == before + 1)
        assert redis_client.exists(login) and online_at(stack, ip)
        # Past the retransmission window the listener still remembers what it handled.
        stack.listener._seen = type(stack.listener._seen)(stack.listener.dedup_ttl)
        stack.ac._send_to_portal(captured)
        assert wait_for(lambda: stack.listener.stats.get("suspected_replays", 0) == before + 2)
        assert redis_client.exists(login) and online_at(stack, ip)
        assert stack.listener.stats["handled.ntf_logout"] == 1


def test_the_login_a_repeat_named_ends_when_its_accounting_stop_arrives(
    redis_client: Any, redis_url: str, data_dir: Path
) -> None:
    """The EAG case with the NTF ahead of its Stop: the NTF alone cannot be told from a replay,
    so it is held; the Stop that follows ends the login."""
    with running_stack(redis_client, redis_url, data_dir, sim={"ntf_zero_ids": True}) as stack:
        sent = record_ntf(stack)
        ip, login, captured = kick_and_relogin(stack, 52, sent)
        stack.ac._send_to_portal(captured)          # identical to the kick the AC is about to send
        assert wait_for(lambda: stack.listener.stats.get("suspected_replays", 0) == 1)
        assert redis_client.exists(held_key(AC_NAME, ip)) and redis_client.exists(login)
        stack.ac._ntf._send = lambda raw: None      # this time only the Accounting-Stop gets through
        assert stack.ac.kick(ip)
        assert wait_for(lambda: not online_at(stack, ip))
        assert wait_for(lambda: not redis_client.exists(login)), "the Stop did not end the held login"
        assert not redis_client.exists(held_key(AC_NAME, ip))


def test_a_held_repeat_does_not_end_a_login_that_came_after_it(
    redis_client: Any, redis_url: str, data_dir: Path
) -> None:
    """The Stop of the session the replay named ends only that login, not a later one."""
    with running_stack(redis_client, redis_url, data_dir) as stack:
        sent = record_ntf(stack)
        ip, login, captured = kick_and_relogin(stack, 53, sent)
        stack.ac._send_to_portal(captured)
        assert wait_for(lambda: stack.listener.stats.get("suspected_replays", 0) == 1)
        redis_client.hset(login, "at", "9999999999.0")      # a newer portal login at that address
        stack.ac._ntf._send = lambda raw: None      # only the old session's Accounting-Stop arrives
        assert stack.ac.kick(ip)
        assert wait_for(lambda: not online_at(stack, ip))
        assert wait_for(lambda: not redis_client.exists(held_key(AC_NAME, ip)))
        assert redis_client.exists(login), "the Stop ended a login the held repeat did not name"


def test_a_stop_landing_between_the_listeners_looks_still_ends_the_login(
    redis_client: Any, redis_url: str, data_dir: Path
) -> None:
    """The EAG repeat and its Stop racing: the listener looked (session online), the Stop closed
    the session before the listener held the repeat. Holding first and looking again catches it
    (CI lost this login once when the listener looked only once)."""
    with running_stack(redis_client, redis_url, data_dir, sim={"ntf_zero_ids": True}) as stack:
        sent = record_ntf(stack)
        ip, login, captured = kick_and_relogin(stack, 54, sent)
        handler = stack.listener.handler
        look = handler.logout_corroborated
        looks: list[bool] = []

        def stop_lands_after_the_first_look(ac: Any, packet: Any) -> bool:
            seen = look(ac, packet)
            if not looks:
                stack.ac._ntf._send = lambda raw: None      # only the Accounting-Stop gets through
                assert stack.ac.kick(ip)
                assert wait_for(lambda: not online_at(stack, ip))
            looks.append(seen)
            return seen

        handler.logout_corroborated = stop_lands_after_the_first_look
        stack.ac._send_to_portal(captured)           # the AC's identical second NTF_LOGOUT
        assert wait_for(lambda: not redis_client.exists(login)), "the login outlived its Stop"
        assert looks == [False, True]
        assert not redis_client.exists(held_key(AC_NAME, ip))
