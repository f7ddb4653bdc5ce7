"""No user stays online without a real-name record (docs/protocols/sms.md, retention).

Real Redis, the real RADIUS server and the AC simulator (tests/e2e/stack.py). Only the append to
the real-name stream fails: the journey's ``RealNameLog`` talks to a thin wrapper around the real
client whose ``xadd`` to that one key raises a Redis error, exactly as a full/read-only/failed-over
Redis would answer. Everything else (OTP, plans, sessions, the AC's RADIUS) uses real Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from ac_adapters.simulator.state import UserState
from portal.login import LoginError, PhoneContext
from portal.reallog import RealNameLog
from portal.state import keys
from portal.web import create_app
from tests.e2e.stack import AC_NAME, Stack, phone, running_stack, wait_for


class RealNameWriteFails:
    """A real Redis client except that XADD to the real-name stream raises (a wrapper, not a fake)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.refused = 0

    def xadd(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        if (name.decode() if isinstance(name, bytes) else name) == keys.real_name_log():
            self.refused += 1
            raise redis_lib.ResponseError("NOPERM this user has no permissions to run the 'xadd' command")
        return self.real.xadd(name, *args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.real, attr)


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


def _break_reallog(stack: Stack) -> RealNameWriteFails:
    failing = RealNameWriteFails(stack.redis)
    stack.journey.reallog = RealNameLog(failing)
    return failing


def _code_for(stack: Stack, i: int) -> tuple[PhoneContext, str]:
    ctx = stack.journey.context(stack.query(i))
    stack.journey.request_code(ctx, phone(i))
    return ctx, stack.last_code(phone(i))


def test_failed_record_logs_the_user_out_on_the_ac_again(stack: Stack,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    ctx, code = _code_for(stack, 31)
    failing = _break_reallog(stack)
    page = stack.journey.sign_context(ctx)
    with caplog.at_level("ERROR", logger="citywifi.login"), pytest.raises(LoginError) as err:
        stack.journey.login_with_code(ctx, phone(31), code, page=page)
    assert err.value.code == "state_unavailable"
    assert failing.refused == 1
    # The AC had accepted the login (RADIUS saw it); now the simulator shows the user offline.
    assert ctx.user_ip not in stack.ac.online()
    assert stack.ac.state_of(ctx.user_ip) is not UserState.ONLINE
    # It really was online on the AC (accounting Start) and was logged off again (Stop).
    assert stack.ac.stats["acct_start"] == 1
    assert wait_for(lambda: stack.ac.stats["acct_stop"] == 1)
    assert not stack.redis.exists(keys.portal_login(AC_NAME, ctx.user_ip))
    assert RealNameLog(stack.redis).count() == 0 or all(
        r.ip != ctx.user_ip for r in RealNameLog(stack.redis).recent(50))
    assert stack.journey.counters.snapshot() == {"login.realname_failed": 1}
    loud = [r for r in caplog.records if "NOT written" in r.getMessage()]
    assert loud and loud[0].levelname == "ERROR" and "logged out on the AC again" in loud[0].getMessage()
    # The accounting session the AC opened is closed by its Stop (nobody counted online).
    assert wait_for(lambda: not stack.journey.sessions.by_phone(phone(31)))

    # Redis healthy again: the same code on the same device logs in (no second SMS), with a record.
    stack.journey.reallog = RealNameLog(stack.redis)
    ok = stack.journey.login_with_code(ctx, phone(31), code, page=page)     # its retry ticket
    assert ok.phone == phone(31) and ctx.user_ip in stack.ac.online()
    assert RealNameLog(stack.redis).recent(1)[0].ip == ctx.user_ip


def test_returning_and_silent_logins_are_undone_too(stack: Stack) -> None:
    ctx, code = _code_for(stack, 32)
    stack.journey.login_with_code(ctx, phone(32), code)
    stack.journey.logout(AC_NAME, ctx.user_ip)
    assert wait_for(lambda: ctx.user_ip not in stack.ac.online())
    failing = _break_reallog(stack)
    # Silent (MAC-trigger) path: reports failure, and the AC has the user offline.
    assert not stack.journey.silent_login(AC_NAME, ctx.mac, ctx.user_ip)
    assert failing.refused == 1 and ctx.user_ip not in stack.ac.online()
    assert stack.journey.counters.snapshot()["login.realname_failed"] == 1


def test_phone_sees_the_state_unavailable_page(stack: Stack) -> None:
    app = create_app(stack.settings, stack.redis)
    app.extensions["citywifi"].journey = stack.journey
    _break_reallog(stack)
    ctx, code = _code_for(stack, 33)
    c = stack.journey.sign_context(ctx)
    client = app.test_client()
    resp = client.post("/portal/login", data={"c": c, "phone": phone(33), "code": code},
                       headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 503
    assert "系统繁忙，请稍后重试。" in resp.get_data(as_text=True)
    assert ctx.user_ip not in stack.ac.online()
    resp = client.post("/portal/login?lang=en", data={"c": c, "phone": phone(33), "code": code},
                       headers={"Accept-Language": "en"})
    assert resp.status_code == 503 and "The portal is busy" in resp.get_data(as_text=True)
    assert ctx.user_ip not in stack.ac.online()
