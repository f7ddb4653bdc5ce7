"""SMGP backend against the fake China Telecom gateway (real TCP on loopback)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from sms_gateway.backend import DeliveryReport, SmsMessage
from sms_gateway.encoding import Coding
from sms_gateway.errors import GatewayPermanentError, GatewayTransientError, GatewayUncertainError
from sms_gateway.pdu import smgp
from sms_gateway.smgp_backend import SmgpBackend, SmgpConfig
from tests.fakes.smgp_gateway import FakeSmgpGateway

OTP = "【无线城市】您的上网验证码是123456，5分钟内有效。"


@pytest.fixture
def gw() -> Iterator[FakeSmgpGateway]:
    with FakeSmgpGateway("10001", "s3cret") as gateway:
        yield gateway


def cfg(gw: FakeSmgpGateway, **kw: object) -> SmgpConfig:
    base: dict[str, object] = dict(name="ct", host="127.0.0.1", port=gw.port, client_id="10001",
                                   secret="s3cret", src_term_id="10690001", response_timeout=2.0,
                                   backoff_min=0.05, backoff_max=0.2, wait_connected=1.0)
    base.update(kw)
    return SmgpConfig(**base)  # type: ignore[arg-type]


def test_send_login_submit_and_delivery_report(gw: FakeSmgpGateway) -> None:
    reports: list[DeliveryReport] = []

    async def run() -> None:
        backend = SmgpBackend(cfg(gw))
        backend.on_report(reports.append)
        result = await backend.send(SmsMessage("13300000001", OTP))
        assert result.gateway == "ct" and len(result.message_id) == 20  # 10 BCD bytes as hex
        for _ in range(100):
            if reports:
                break
            await asyncio.sleep(0.02)
        await backend.close()
        assert reports and reports[0].message_id == result.message_id and reports[0].delivered

    asyncio.run(run())
    assert gw.logins == 1 and gw.exits == 1
    (got,) = gw.received
    assert got.phone == "13300000001" and got.msg_format == smgp.MsgFormat.UCS2
    assert got.content.decode("utf-16-be") == OTP
    assert gw.reports_acked  # our Deliver_Resp reached the gateway


def test_gb18030_is_configurable(gw: FakeSmgpGateway) -> None:
    async def run() -> None:
        backend = SmgpBackend(cfg(gw, coding=Coding.GB18030))
        await backend.send(SmsMessage("13300000001", OTP))
        await backend.close()

    asyncio.run(run())
    assert gw.received[0].msg_format == 15 and gw.received[0].content.decode("gb18030") == OTP


def test_long_message_is_concatenated_with_tlvs(gw: FakeSmgpGateway) -> None:
    async def run() -> None:
        backend = SmgpBackend(cfg(gw))
        result = await backend.send(SmsMessage("13300000001", "长" * 150))
        assert result.segments == 3 and len(set(result.message_ids)) == 3
        await backend.close()

    asyncio.run(run())
    parts = gw.received
    assert [p.udhi for p in parts] == [True] * 3
    assert "".join(p.content[6:].decode("utf-16-be") for p in parts) == "长" * 150


def test_auth_failure_is_transient_and_retried_with_backoff(gw: FakeSmgpGateway) -> None:
    gw.auth_fail = True

    async def run() -> None:
        backend = SmgpBackend(cfg(gw, wait_connected=0.5))
        with pytest.raises(GatewayTransientError) as err:
            await backend.send(SmsMessage("13300000001", OTP))
        assert err.value.code == "smgp_login_21"
        gw.auth_fail = False  # the operator fixes the account: the session recovers alone
        result = await backend.send(SmsMessage("13300000001", OTP))
        assert result.message_id
        await backend.close()

    asyncio.run(run())
    assert gw.login_failures >= 2 and gw.logins == 1


def test_wrong_secret_fails_login(gw: FakeSmgpGateway) -> None:
    async def run() -> None:
        backend = SmgpBackend(cfg(gw, secret="wrong", wait_connected=0.3))
        with pytest.raises(GatewayTransientError):
            await backend.send(SmsMessage("13300000001", OTP))
        await backend.close()

    asyncio.run(run())
    assert gw.logins == 0 and gw.received == []


def test_illegal_number_is_permanent_with_user_message(gw: FakeSmgpGateway) -> None:
    gw.illegal_numbers = {"13300000009"}

    async def run() -> None:
        backend = SmgpBackend(cfg(gw))
        with pytest.raises(GatewayPermanentError) as err:
            await backend.send(SmsMessage("13300000009", OTP))
        assert err.value.code == "smgp_47" and "号码" in err.value.message_zh
        assert err.value.message_en
        await backend.close()

    asyncio.run(run())


def test_flow_control_is_transient(gw: FakeSmgpGateway) -> None:
    gw.flow_control = True

    async def run() -> None:
        backend = SmgpBackend(cfg(gw))
        with pytest.raises(GatewayTransientError) as err:
            await backend.send(SmsMessage("13300000001", OTP))
        assert err.value.code == "smgp_75"
        await backend.close()

    asyncio.run(run())


def test_window_of_16_is_never_exceeded_with_slow_replies(gw: FakeSmgpGateway) -> None:
    gw.reply_delay = 0.05

    async def run() -> None:
        backend = SmgpBackend(cfg(gw, window=16))
        results = await asyncio.gather(*(backend.send(SmsMessage("13300000001", f"m{i}"))
                                         for i in range(64)))
        assert len({r.message_id for r in results}) == 64
        await backend.close()

    asyncio.run(run())
    assert gw.window_violations == 0
    assert gw.max_outstanding == 16  # the window was actually used, not serialised


def test_slow_reply_beyond_timeout_is_uncertain_not_resent(gw: FakeSmgpGateway) -> None:
    gw.reply_delay = 1.0

    async def run() -> None:
        backend = SmgpBackend(cfg(gw, response_timeout=0.3))
        with pytest.raises(GatewayUncertainError):
            await backend.send(SmsMessage("13300000001", OTP))
        await asyncio.sleep(0.8)
        await backend.close()

    asyncio.run(run())
    assert len(gw.received) == 1  # the gateway got it once; we did not resend


def test_dropped_connection_mid_submit_is_uncertain_then_reconnects(gw: FakeSmgpGateway) -> None:
    gw.drop_on_submit = 1

    async def run() -> None:
        backend = SmgpBackend(cfg(gw))
        with pytest.raises(GatewayUncertainError):
            await backend.send(SmsMessage("13300000001", OTP))
        result = await backend.send(SmsMessage("13300000002", OTP))
        assert result.message_id
        await backend.close()

    asyncio.run(run())
    assert gw.logins == 2 and gw.phones() == ["13300000002"]


def test_gateway_restart_reconnects_and_keepalive_probes(gw: FakeSmgpGateway) -> None:
    async def run() -> None:
        backend = SmgpBackend(cfg(gw, heartbeat=0.2))
        await backend.send(SmsMessage("13300000001", OTP))
        await asyncio.sleep(0.6)  # idle: active tests flow
        assert gw.active_tests >= 1
        gw.drop_all()
        deadline = time.monotonic() + 3
        while backend.session.connects < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await backend.send(SmsMessage("13300000002", OTP))
        await backend.close()

    asyncio.run(run())
    assert gw.logins == 2 and gw.phones() == ["13300000001", "13300000002"]


def test_unanswered_active_tests_drop_the_link(gw: FakeSmgpGateway) -> None:
    async def run() -> None:
        backend = SmgpBackend(cfg(gw, heartbeat=0.1, response_timeout=0.15, heartbeat_misses=2))
        await backend.start()
        deadline = time.monotonic() + 2
        while not backend.session.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        gw.silent = True
        deadline = time.monotonic() + 3
        while backend.session.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not backend.session.connected  # two missed active tests dropped the link
        gw.silent = False
        deadline = time.monotonic() + 3
        while backend.session.connects < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await backend.close()

    asyncio.run(run())
    assert gw.logins >= 2  # dropped and logged in again


def test_a_gateway_that_cannot_prove_the_secret_is_not_used(gw: FakeSmgpGateway) -> None:
    gw.impostor = True

    async def run() -> None:
        backend = SmgpBackend(cfg(gw, wait_connected=0.3))
        with pytest.raises(GatewayTransientError) as err:
            await backend.send(SmsMessage("13300000001", OTP))
        assert err.value.code == "smgp_server_auth"
        await backend.close()

    asyncio.run(run())
    assert gw.logins >= 1 and gw.received == []
