"""No user stays online without a real-name record (docs/protocols/sms.md, retention).

Real Redis, the real RADIUS server and the AC simulator (tests/e2e/stack.py). Only the append to
the real-name stream fails. The first tests have the journey's ``RealNameLog`` talk to a thin
wrapper around the real client whose ``xadd`` to that one key raises a Redis error;
``test_redis_refusing_the_record_through_the_app`` has no wrapper at all: the web app's own Redis
user is refused that key by the server's ACL (``NOPERM``), the whole journey runs through the
app's HTTP routes, and the server's ACL log shows the refused write.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from ac_adapters.simulator.state import UserState
from portal.legal.reallog import RealNameLog
from portal.phone.login import LoginError, PhoneContext
from portal.state import keys
from portal.web import create_app, services
from tests.e2e.stack import AC_NAME, Stack, phone, running_stack, stack_app, wait_for


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
    app = stack_app(stack)
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


WEB_USER, WEB_PASSWORD = "web-node", "web-node-password-0123"


def _all_keys_but(prefix: str) -> list[str]:
    """ACL key patterns (Redis 6.2 globs, which cannot exclude) that match every key except
    those starting with ``prefix``: for each position, "the same start, then another char"."""
    assert not set(prefix) & set("*?[]\\^-"), "prefix would need glob escaping"
    patterns = [f"~{prefix[:i]}[^{prefix[i]}]*" for i in range(len(prefix))]
    return patterns + [f"~{prefix[:i]}" for i in range(1, len(prefix))]


@pytest.fixture
def web_redis(redis_client: Any, redis_url: str) -> Iterator[Any]:
    """A real connection as the web node's Redis user, whom the server's ACL refuses the
    real-name stream (and nothing else)."""
    redis_client.execute_command("ACL", "SETUSER", WEB_USER, "reset", "on", f">{WEB_PASSWORD}",
                                 "+@all", *_all_keys_but(keys.real_name_log()))
    redis_client.execute_command("ACL", "LOG", "RESET")
    client = redis_lib.Redis.from_url(redis_url, username=WEB_USER, password=WEB_PASSWORD)
    try:
        yield client
    finally:
        client.close()
        redis_client.execute_command("ACL", "DELUSER", WEB_USER)


def test_redis_refusing_the_record_through_the_app(stack: Stack, web_redis: Any) -> None:
    """The AC accepts the login (RADIUS, accounting Start), then Redis refuses the real-name
    record: the phone gets the clear "busy, try again" page in its language, the AC logs it
    out again (accounting Stop), and no accounting session stays online without its record.
    Once Redis takes the record again, the same code from the same page logs the phone in."""
    app = create_app(stack.settings, web_redis)                  # the app's own journey
    journey = services(app).journey
    client = app.test_client()
    try:
        html = client.get("/portal?" + stack.query(34)).get_data(as_text=True)
        c = re.search(r'name="c" value="([^"]*)"', html).group(1)            # type: ignore[union-attr]
        assert client.post("/portal/code", data={"c": c, "phone": phone(34)}).status_code == 200
        code = stack.last_code(phone(34))

        resp = client.post("/portal/login", data={"c": c, "phone": phone(34), "code": code},
                           headers={"Accept-Language": "zh-CN"})
        assert resp.status_code == 503, resp.get_data(as_text=True)[:500]
        assert "系统繁忙，请稍后重试。" in resp.get_data(as_text=True)
        refused = [e for e in web_redis.execute_command("ACL", "LOG")
                   if _field(e, "username") == WEB_USER]
        assert refused and _field(refused[0], "object") == keys.real_name_log()
        assert _field(refused[0], "reason") == "key"
        # The AC had the phone online (accounting Start) and logged it out again (Stop).
        assert stack.ac.stats["acct_start"] == 1
        assert wait_for(lambda: stack.ac.stats["acct_stop"] == 1)
        assert not stack.ac.online()
        assert wait_for(lambda: not stack.journey.sessions.by_phone(phone(34)))
        assert RealNameLog(stack.redis).recent(5) == []      # no login record (Stop's logout only)
        assert journey.counters.snapshot()["login.realname_failed"] == 1

        # Redis takes the record again: the retry ticket lets the same code in, with a record.
        stack.redis.execute_command("ACL", "SETUSER", WEB_USER, "~*")
        resp = client.post("/portal/login", data={"c": c, "phone": phone(34), "code": code},
                           headers={"Accept-Language": "en"})
        assert resp.status_code == 200 and 'id="success"' in resp.get_data(as_text=True)
        (record,) = RealNameLog(stack.redis).recent(5)
        assert record.phone == phone(34) and list(stack.ac.online()) == [record.ip]
        assert wait_for(lambda: stack.journey.sessions.by_phone(phone(34)))
    finally:
        if journey._client is not None:
            journey._client.close()


def _field(entry: Any, name: str) -> str:
    """One field of an ACL LOG entry (a dict, or a flat list on older clients)."""
    if isinstance(entry, dict):
        value = entry.get(name, entry.get(name.encode()))
    else:
        pairs = dict(zip(entry[::2], entry[1::2], strict=True))
        value = pairs.get(name.encode(), pairs.get(name))
    return value.decode() if isinstance(value, bytes) else str(value)
