"""CMPP 3.0 / 2.0 backend against the fake China Mobile ISMG (real TCP on loopback)."""

from __future__ import annotations

import asyncio

import pytest

from sms_gateway.backend import DeliveryReport, SmsMessage
from sms_gateway.cmpp_backend import CmppBackend, CmppConfig
from sms_gateway.errors import GatewayPermanentError, GatewayTransientError, GatewayUncertainError
from sms_gateway.pdu import cmpp
from tests.fakes.cmpp_gateway import FakeCmppGateway

OTP = "【无线城市】您的上网验证码是123456，5分钟内有效。"


def cfg(gw: FakeCmppGateway, **kw: object) -> CmppConfig:
    base: dict[str, object] = dict(name="cm", host="127.0.0.1", port=gw.port, sp_id="901234",
                                   secret="s3cret", src_id="1065001", version=gw.version,
                                   response_timeout=2.0, backoff_min=0.05, backoff_max=0.2,
                                   wait_connected=1.0)
    base.update(kw)
    return CmppConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [cmpp.V30, cmpp.V20])
def test_send_and_report_both_versions(version: int) -> None:
    reports: list[DeliveryReport] = []
    with FakeCmppGateway(version=version) as gw:
        async def run() -> None:
            backend = CmppBackend(cfg(gw))
            backend.on_report(reports.append)
            result = await backend.send(SmsMessage("13800138000", OTP))
            for _ in range(100):
                if reports:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.05)
            await backend.close()
            # ACCEPTD is intermediate (§1.4) and must not surface; DELIVRD must.
            assert [r.stat for r in reports] == ["DELIVRD"]
            assert reports[0].message_id == result.message_id

        asyncio.run(run())
        assert gw.logins == 1 and gw.exits == 1
        assert gw.received[0].content.decode("utf-16-be") == OTP
        assert len(gw.reports_acked) == 2


def test_version_mismatch_and_bad_secret_fail_login() -> None:
    with FakeCmppGateway(version=cmpp.V30) as gw:
        async def run() -> None:
            for kw in ({"secret": "nope"}, {"version": cmpp.V20}):
                backend = CmppBackend(cfg(gw, wait_connected=0.3, **kw))
                with pytest.raises(GatewayTransientError) as err:
                    await backend.send(SmsMessage("13800138000", OTP))
                if kw == {"secret": "nope"}:
                    assert err.value.code == "cmpp_login_3"      # CONNECT_RESP Status 3
                await backend.close()

        asyncio.run(run())
        assert gw.logins == 0 and gw.login_failures >= 2


@pytest.mark.parametrize("version", [cmpp.V30, cmpp.V20])
def test_a_gateway_that_cannot_prove_the_secret_is_not_used(version: int) -> None:
    with FakeCmppGateway(version=version) as gw:
        gw.impostor = True

        async def run() -> None:
            backend = CmppBackend(cfg(gw, wait_connected=0.3))
            with pytest.raises(GatewayTransientError) as err:
                await backend.send(SmsMessage("13800138000", OTP))
            assert err.value.code == "cmpp_server_auth"
            await backend.close()

        asyncio.run(run())
        assert gw.logins >= 1 and gw.received == []


def test_illegal_number_flow_control_and_long_message() -> None:
    with FakeCmppGateway() as gw:
        gw.illegal_numbers = {"13800000000"}

        async def run() -> None:
            backend = CmppBackend(cfg(gw))
            with pytest.raises(GatewayPermanentError) as perm:
                await backend.send(SmsMessage("13800000000", OTP))
            assert perm.value.code == "cmpp_13" and perm.value.message_zh
            gw.flow_control = True
            with pytest.raises(GatewayTransientError) as flow:
                await backend.send(SmsMessage("13800138000", OTP))
            assert flow.value.code == "cmpp_8"
            gw.flow_control = False
            result = await backend.send(SmsMessage("13800138000", "长" * 100))
            assert result.segments == 2
            await backend.close()

        asyncio.run(run())
        assert [r.udhi for r in gw.received] == [True, True]


def test_window_and_drop() -> None:
    with FakeCmppGateway() as gw:
        gw.reply_delay = 0.05

        async def run() -> None:
            backend = CmppBackend(cfg(gw, window=8))
            await asyncio.gather(*(backend.send(SmsMessage("13800138000", f"{i}")) for i in range(32)))
            gw.reply_delay = 0
            gw.drop_on_submit = 1
            with pytest.raises(GatewayUncertainError):
                await backend.send(SmsMessage("13800138001", OTP))
            await backend.send(SmsMessage("13800138002", OTP))
            await backend.close()

        gw.window = 8
        asyncio.run(run())
        assert gw.window_violations == 0 and gw.max_outstanding == 8
        assert "13800138001" not in gw.phones() and "13800138002" in gw.phones()
