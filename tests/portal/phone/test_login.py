"""The phone journey's use cases against real Redis, the real RADIUS server and the AC simulator."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.aaa.plans import Plan
from portal.aaa.usage import UsageBook
from portal.legal.reallog import RealNameLog
from portal.phone.login import LoginError, PhoneContext
from portal.phone.sms_queue import SmsQueue
from portal.state import keys
from tests.e2e.stack import AC_NAME, OPERATOR_URL, VENUE_URL, Stack, phone, running_stack, user, wait_for


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


def first_login(stack: Stack, i: int) -> tuple[PhoneContext, Any]:
    ctx = stack.journey.context(stack.query(i))
    sent = stack.journey.request_code(ctx, phone(i))
    assert sent.phone == phone(i) and sent.resend_in > 0
    return ctx, stack.journey.login_with_code(ctx, phone(i), stack.last_code(phone(i)))


def test_a_code_request_queues_its_sms_with_the_login_place(stack: Stack) -> None:
    """The SMS job carries the venue, AC and SSID of the login context: the worker counts the
    SMS there for the daily reports (portal/reports/counts.py)."""
    ctx = stack.journey.context(stack.query(7))
    stack.journey.request_code(ctx, phone(7))
    _id, fields = stack.redis.xrange(keys.sms_stream())[-1]
    job = SmsQueue(stack.redis).job(fields[b"job_id"].decode())
    assert job is not None and job.phone == phone(7)
    assert job.place == ("library", AC_NAME, "CityWiFi")


def test_context_from_the_simulator_redirect(stack: Stack) -> None:
    ctx = stack.journey.context(stack.query(1))
    ip, mac = user(1)
    assert (ctx.ac, ctx.user_ip, ctx.mac, ctx.ssid, ctx.venue) == (AC_NAME, ip, mac, "CityWiFi", "library")
    assert stack.journey.open_context(stack.journey.sign_context(ctx)) == ctx
    with pytest.raises(LoginError) as err:
        stack.journey.open_context(stack.journey.sign_context(ctx)[:-3] + "AAA")
    assert err.value.code == "bad_link"
    with pytest.raises(LoginError) as err:
        stack.journey.context("wlanuserip=10.0.0.9&wlanacname=nobody")
    assert err.value.code == "unknown_ac"


def test_first_login_binds_mac_writes_record_and_goes_online(stack: Stack) -> None:
    ctx, ok = first_login(stack, 1)
    assert ok.kind == "sms" and ok.plan.name == "basic" and ok.redirect_url == VENUE_URL
    assert ctx.user_ip in stack.ac.online()
    assert stack.journey.credentials.binding_for_mac(ctx.mac)[0] == phone(1)
    record = RealNameLog(stack.redis).recent(1)[0]
    assert (record.phone, record.mac, record.ip, record.ac, record.ssid, record.kind) == (
        phone(1), ctx.mac, ctx.user_ip, AC_NAME, "CityWiFi", "sms")
    assert record.ap == "00:11:22:33:44:55"
    # Accounting Start reached RADIUS: the portal's view is online with live quota.
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(1)))
    status = stack.journey.status(AC_NAME, ctx.user_ip)
    assert status.online and status.phone == phone(1)
    assert status.seconds_remaining is not None and 0 < status.seconds_remaining <= 4 * 3600
    assert status.down_kbps == 8000 and status.max_devices == 2
    # The code is single use: the same code again is "used" only after the retry window closes.
    with pytest.raises(LoginError) as err:
        stack.journey.login_with_code(ctx, phone(1), "000000")
    assert err.value.code in ("used", "expired")


def test_wrong_code_counts_down_then_locks(stack: Stack) -> None:
    ctx = stack.journey.context(stack.query(2))
    stack.journey.request_code(ctx, phone(2))
    good = stack.last_code(phone(2))
    bad = "000000" if good != "000000" else "111111"
    codes = []
    for _ in range(5):
        with pytest.raises(LoginError) as err:
            stack.journey.login_with_code(ctx, phone(2), bad)
        codes.append((err.value.code, err.value.attempts_left))
    assert codes[0] == ("wrong_code", 4) and codes[-1][0] == "too_many_attempts"
    with pytest.raises(LoginError) as err:
        stack.journey.login_with_code(ctx, phone(2), good)
    assert err.value.code == "too_many_attempts"


def test_code_requests_are_refused_with_reasons(stack: Stack) -> None:
    ctx = stack.journey.context(stack.query(3))
    stack.journey.request_code(ctx, phone(3))
    with pytest.raises(LoginError) as err:
        stack.journey.request_code(ctx, phone(3))
    assert err.value.code == "resend_too_soon" and 0 < err.value.retry_after <= 60
    with pytest.raises(LoginError) as err:
        stack.journey.request_code(ctx, "13800138000")     # China Mobile: not an operator number
    assert err.value.code == "carrier_not_allowed"
    with pytest.raises(LoginError) as err:
        stack.journey.request_code(ctx, "12345")
    assert err.value.code == "invalid_number"


def test_reopened_window_resumes_the_pending_code(stack: Stack) -> None:
    ctx = stack.journey.context(stack.query(4))
    assert stack.journey.landing(ctx).phone == ""
    stack.journey.request_code(ctx, phone(4))
    again = stack.journey.context(stack.query(4))      # window closed, AC redirects again
    landing = stack.journey.landing(again)
    # The code field comes back, but a redirect only claims the device: no number is shown ...
    assert landing.code_pending and landing.phone == "" and 50 <= landing.resend_in <= 60
    assert landing.ad is None
    # ... unless this browser proved it typed that number for this device, and then masked.
    proven = dataclasses.replace(again, phone_proof=stack.journey.phone_proof(again, phone(4)))
    assert stack.journey.landing(proven).phone == "189****0004"
    assert stack.journey.posted_phone(proven, "189****0004") == phone(4)
    assert stack.journey.posted_phone(again, "189****0004") == ""          # not proven: no number
    ok = stack.journey.login_with_code(again, phone(4), stack.last_code(phone(4)))
    assert ok.phone == phone(4)


def test_returning_phone_ad_ticket_cannot_be_redeemed_early_or_twice(stack: Stack) -> None:
    ctx, _ = first_login(stack, 5)
    stack.journey.logout(AC_NAME, ctx.user_ip)
    assert wait_for(lambda: ctx.user_ip not in stack.ac.online())
    again = stack.journey.context(stack.query(5))
    landing = stack.journey.landing(again)
    assert landing.ad is not None and landing.ad.seconds == 2 and landing.ad.phone == phone(5)
    with pytest.raises(LoginError) as err:
        stack.journey.redeem_ad(again, landing.ad.ticket)
    assert err.value.code == "too_early" and 1 <= err.value.retry_after <= 2
    other = stack.journey.context(stack.query(6))
    with pytest.raises(LoginError) as err:
        stack.journey.redeem_ad(other, landing.ad.ticket)     # someone else's ticket
    assert err.value.code == "bad_link"
    stack.clock.advance(2.0)                              # the venue's 2-second ad countdown
    ok = stack.journey.redeem_ad(again, landing.ad.ticket)
    assert ok.kind == "returning" and ok.redirect_url == VENUE_URL
    assert again.user_ip in stack.ac.online()
    with pytest.raises(LoginError) as err:
        stack.journey.redeem_ad(again, landing.ad.ticket)
    assert err.value.code == "ticket_used"
    stats = stack.redis.hgetall(keys.venue_stats("library"))
    assert stats[b"ad_impressions"] == b"1" and stats[b"ad_views"] == b"1"
    assert RealNameLog(stack.redis).recent(1)[0].kind == "returning"


def test_ntf_logout_and_radius_stop_close_the_portal_view(stack: Stack) -> None:
    ctx, _ = first_login(stack, 7)
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(7)))
    assert stack.journey.status(AC_NAME, ctx.user_ip).online
    stack.ac.kick(ctx.user_ip)                       # AC-initiated: Stop + NTF_LOGOUT
    assert wait_for(lambda: not stack.redis.exists(keys.portal_login(AC_NAME, ctx.user_ip)))
    assert not stack.journey.status(AC_NAME, ctx.user_ip).online
    # RADIUS Stop alone (no NTF): the view closes once accounting has no session for it.
    ctx2, _ = first_login(stack, 8)
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(8)))
    stack.redis.hset(keys.portal_login(AC_NAME, ctx2.user_ip), "at", "1")   # past the start grace
    for s in stack.journey.sessions.by_phone(phone(8)):
        stack.journey.sessions.close(s.ac, s.session_id, s.phone)
    assert not stack.journey.status(AC_NAME, ctx2.user_ip).online


def test_quota_refusals_before_the_ac(stack: Stack) -> None:
    ctx = stack.journey.context(stack.query(9))
    UsageBook(stack.redis).add(phone(9), 4 * 3600, 0, time.time())
    stack.journey.request_code(ctx, phone(9))
    with pytest.raises(LoginError) as err:
        stack.journey.login_with_code(ctx, phone(9), stack.last_code(phone(9)))
    assert err.value.code == "daily_time_used"
    stack.plans.put(Plan(name="old", valid_until=1000.0))
    stack.plans.assign_user(phone(10), "old")
    ctx10 = stack.journey.context(stack.query(10))
    stack.journey.request_code(ctx10, phone(10))
    with pytest.raises(LoginError) as err:
        stack.journey.login_with_code(ctx10, phone(10), stack.last_code(phone(10)))
    assert err.value.code == "plan_expired"


def test_ac_timeout_then_retry_without_a_new_code(stack: Stack) -> None:
    ctx = stack.journey.context(stack.query(11))
    stack.journey.request_code(ctx, phone(11))
    code = stack.last_code(phone(11))
    import dataclasses

    from portal.aaa.acs import AcRegistry

    registry = AcRegistry(stack.redis)
    good = registry.get(AC_NAME)
    registry.put(dataclasses.replace(good, secret="wrong-secret-xyz"))   # AC drops our packets
    stack.journey._ac_cache.clear()
    page = stack.journey.sign_context(ctx)           # the login page's context token
    with pytest.raises(LoginError) as err:
        stack.journey.login_with_code(ctx, phone(11), code, page=page)
    assert err.value.code == "ac_timeout"
    registry.put(good)
    stack.journey._ac_cache.clear()
    # The used code is not accepted from another page of the same device, nor with another code;
    # a wrong code does not use the ticket up.
    other_page = stack.journey.sign_context(dataclasses.replace(ctx, first_url="http://x.cn/"))
    for wrong_page, wrong_code in ((other_page, code), (page, "000000" if code != "000000" else "111111")):
        with pytest.raises(LoginError) as err:
            stack.journey.login_with_code(ctx, phone(11), wrong_code, page=wrong_page)
        assert err.value.code in ("used", "wrong_code")
    ok = stack.journey.login_with_code(ctx, phone(11), code, page=page)     # same code, device, page
    assert ok.phone == phone(11)
    with pytest.raises(LoginError) as err:                   # the ticket was single use
        stack.journey.login_with_code(ctx, phone(11), code, page=page)
    assert err.value.code == "used"


def test_ac_rejected_carries_the_reply_message(stack: Stack) -> None:
    ctx = stack.journey.context(stack.query(12))
    stack.journey.request_code(ctx, phone(12))
    code = stack.last_code(phone(12))
    # Block the MAC only at RADIUS time (after the portal's own checks): RADIUS rejects.
    from portal.aaa.blocklist import Blocklist

    class BlockAfterPortalCheck:
        """The journey's authorizer, which blocks the MAC right after the portal's own check."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def authorize(self, number: str, mac: str | None, *args: Any, **kwargs: Any) -> Any:
            grant = self.inner.authorize(number, mac, *args, **kwargs)
            assert mac is not None
            Blocklist(stack.redis).block("mac", mac, reason="test", by="test")
            return grant

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    stack.journey.authorizer = BlockAfterPortalCheck(stack.journey.authorizer)  # type: ignore[assignment]
    with pytest.raises(LoginError) as err:
        stack.journey.login_with_code(ctx, phone(12), code)
    assert err.value.code == "ac_rejected"
    assert "停止" in err.value.reply_message or "blocked" in err.value.reply_message


def test_post_login_redirect_is_allow_listed(stack: Stack) -> None:
    from portal.venues.venue_store import Venue

    venue = Venue(id="evil", redirect_url="https://evil.example.com/")
    assert stack.journey.redirect_target(venue) == OPERATOR_URL
    assert stack.journey.redirect_target(Venue(id="ok", redirect_url=VENUE_URL)) == VENUE_URL


def test_silent_mac_login(redis_client: Any, redis_url: str, data_dir: Path) -> None:
    with running_stack(redis_client, redis_url, data_dir, mac_trigger=True) as stack:
        ctx, _ = first_login(stack, 13)
        stack.journey.logout(AC_NAME, ctx.user_ip)
        assert wait_for(lambda: ctx.user_ip not in stack.ac.online())
        # The phone re-associates: the AC asks 0x30, we say bound, then log it in silently.
        stack.ac.add_user(ctx.user_ip, ctx.mac)
        assert wait_for(lambda: ctx.user_ip in stack.ac.online(), timeout=8)
        assert wait_for(lambda: RealNameLog(stack.redis).recent(1)[0].kind == "silent")
