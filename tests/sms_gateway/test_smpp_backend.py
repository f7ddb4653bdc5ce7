"""SMPP 3.4 backend against the independent `smpp34` SMSC server (PyPI, Rust core)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sms_gateway.backend import DeliveryReport, SmsMessage
from sms_gateway.errors import GatewayPermanentError
from sms_gateway.smpp_backend import SmppBackend, SmppConfig
from tests.conftest import free_tcp_port

smpp34 = pytest.importorskip("smpp34")

OTP = "【无线城市】您的上网验证码是123456，5分钟内有效。"


async def smsc(server: Any, submits: list[Any], bad: set[str]) -> None:
    esme = None
    n = 0
    pending: set[Any] = set()
    while True:
        ev = await server.next()
        if isinstance(ev, smpp34.Esme):
            esme = ev
        elif isinstance(ev, smpp34.SubmitSmEvent):
            submits.append(ev)
            if ev.destination_addr in bad:
                ev.reject(smpp34.ESME_RINVDSTADR)
                continue
            n += 1
            ev.accept(f"smsc{n}")
            assert esme is not None
            text = (f"id:smsc{n} sub:001 dlvrd:001 submit date:2403010000 done date:2403010001 "
                    "stat:DELIVRD err:000 text:").encode()
            fut = asyncio.ensure_future(esme.deliver_sm(
                ev.source_addr, text, source_addr=ev.destination_addr, esm_class=0x04))
            pending.add(fut)
            fut.add_done_callback(pending.discard)


def test_bind_submit_receipt_long_message_and_rejection() -> None:
    async def run() -> None:
        port = free_tcp_port()
        server = smpp34.Server("127.0.0.1", port, system_id="smsc")
        await server.start()
        submits: list[Any] = []
        task = asyncio.create_task(smsc(server, submits, {"8613300000009"}))
        reports: list[DeliveryReport] = []
        backend = SmppBackend(SmppConfig("intl", "127.0.0.1", port, system_id="esme", password="pw",
                                         source_addr="1069", response_timeout=3.0))
        backend.on_report(reports.append)
        try:
            one = await backend.send(SmsMessage("13300000001", OTP))
            assert one.message_id == "smsc1"
            two = await backend.send(SmsMessage("13300000001", "字" * 100))
            assert two.segments == 2
            with pytest.raises(GatewayPermanentError):
                await backend.send(SmsMessage("13300000009", OTP))
            for _ in range(100):
                if len(reports) >= 3:
                    break
                await asyncio.sleep(0.02)
        finally:
            await backend.close()
            task.cancel()
            await server.stop()
        assert submits[0].destination_addr == "8613300000001"
        assert submits[0].data_coding == 8 and submits[0].short_message.decode("utf-16-be") == OTP
        assert submits[1].esm_class & 0x40 and submits[1].short_message[:3] == b"\x05\x00\x03"
        assert {r.message_id for r in reports} == {"smsc1", "smsc2", "smsc3"}
        assert all(r.delivered for r in reports)

    asyncio.run(run())
