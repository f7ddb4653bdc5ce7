"""Failover by priority: transient → next gateway; permanent/uncertain → stop (real fakes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sms_gateway.backend import SmsMessage
from sms_gateway.cmpp_backend import CmppBackend, CmppConfig
from sms_gateway.errors import GatewayPermanentError, GatewayTransientError, GatewayUncertainError
from sms_gateway.failover import FailoverBackend
from sms_gateway.file_backend import FileBackend
from sms_gateway.smgp_backend import SmgpBackend, SmgpConfig
from tests.fakes.cmpp_gateway import FakeCmppGateway
from tests.fakes.smgp_gateway import FakeSmgpGateway

MSG = SmsMessage("13300000001", "【无线城市】您的上网验证码是 123456，5分钟内有效。")


async def wait_down(backend: object) -> None:
    for _ in range(200):
        if not backend.session.connected:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.01)


def build(ct: FakeSmgpGateway, cm: FakeCmppGateway, outbox: Path) -> FailoverBackend:
    smgp_b = SmgpBackend(SmgpConfig("ct", "127.0.0.1", ct.port, client_id="10001", secret="s3cret",
                                    src_term_id="10690001", wait_connected=0.5, backoff_min=0.05,
                                    response_timeout=0.5))
    cmpp_b = CmppBackend(CmppConfig("cm", "127.0.0.1", cm.port, sp_id="901234", secret="s3cret",
                                    src_id="1065001", wait_connected=0.5, backoff_min=0.05))
    # Deliberately listed out of order: priority decides.
    return FailoverBackend([(30, FileBackend("file", outbox)), (10, smgp_b), (20, cmpp_b)])


def test_priorities_and_failover(tmp_path: Path) -> None:
    with FakeSmgpGateway() as ct, FakeCmppGateway() as cm:
        async def run() -> None:
            fb = build(ct, cm, tmp_path)
            assert [b.name for b in fb.backends] == ["ct", "cm", "file"]
            assert (await fb.send(MSG)).gateway == "ct"
            ct.flow_control = True                      # transient → next by priority
            assert (await fb.send(MSG)).gateway == "cm"
            ct.stop()                                   # gateway gone → still cm
            await wait_down(fb.backends[0])
            assert (await fb.send(MSG)).gateway == "cm"
            cm.auth_fail = True
            cm.drop_all()
            await wait_down(fb.backends[1])
            assert (await fb.send(MSG)).gateway == "file"
            await fb.close()

        asyncio.run(run())
        assert len(ct.received) == 1 and len(cm.received) == 2
        assert len(FileBackend("x", tmp_path).messages()) == 1


def test_permanent_error_is_not_failed_over(tmp_path: Path) -> None:
    with FakeSmgpGateway() as ct, FakeCmppGateway() as cm:
        ct.illegal_numbers = {MSG.phone}

        async def run() -> None:
            fb = build(ct, cm, tmp_path)
            with pytest.raises(GatewayPermanentError) as err:
                await fb.send(MSG)
            assert err.value.message_zh and err.value.message_en
            await fb.close()

        asyncio.run(run())
        assert cm.received == [] and FileBackend("x", tmp_path).messages() == []


def test_uncertain_is_not_failed_over(tmp_path: Path) -> None:
    with FakeSmgpGateway() as ct, FakeCmppGateway() as cm:
        ct.reply_delay = 2.0

        async def run() -> None:
            fb = build(ct, cm, tmp_path)
            with pytest.raises(GatewayUncertainError):
                await fb.send(MSG)
            await fb.close()

        asyncio.run(run())
        assert cm.received == []


def test_all_transient_raises_transient(tmp_path: Path) -> None:
    with FakeSmgpGateway() as ct:
        ct.flow_control = True

        async def run() -> None:
            smgp_b = SmgpBackend(SmgpConfig("ct", "127.0.0.1", ct.port, client_id="10001",
                                            secret="s3cret"))
            fb = FailoverBackend([(1, smgp_b)])
            with pytest.raises(GatewayTransientError) as err:
                await fb.send(MSG)
            assert err.value.code == "smgp_75"
            await fb.close()

        asyncio.run(run())
