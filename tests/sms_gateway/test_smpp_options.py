"""SMPP options real aggregators need, against the independent `smpp34` SMSC:
GSM 7-bit coding, system_type / service_type / TON / NPI / alphanumeric sender / 86 prefix,
separate transmitter + receiver binds, TLS, and receipts that say "not a subscriber"."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sms_gateway.backend import DeliveryReport, SmsMessage
from sms_gateway.errors import GatewayTransientError
from sms_gateway.gsm7 import encode_gsm7
from sms_gateway.session import TlsOptions
from sms_gateway.smpp_backend import SmppBackend, SmppConfig
from tests.conftest import free_tcp_port
from tests.sms_gateway.smpp_peer import Relay, cstrings, first_pdu, make_certificates, server_context

smpp34 = pytest.importorskip("smpp34")

ASCII_75 = "Your CityWiFi code is 123456. It is valid for 5 minutes. Do not share it!!"


@dataclass
class Smsc:
    """The smpp34 server and what it saw; receipts go to the ESMEs that can receive."""

    server: Any
    port: int
    submits: list[Any] = field(default_factory=list)
    esmes: list[Any] = field(default_factory=list)
    receipt: Callable[[Any, str], tuple[str, str, list[Any]]] = (
        lambda ev, mid: ("DELIVRD", "000", []))
    _pending: set[Any] = field(default_factory=set)

    async def serve(self) -> None:
        n = 0
        while True:
            ev = await self.server.next()
            if isinstance(ev, smpp34.Esme):
                self.esmes.append(ev)
            elif isinstance(ev, smpp34.SubmitSmEvent):
                self.submits.append(ev)
                n += 1
                ev.accept(f"m{n}")
                stat, err, tlvs = self.receipt(ev, f"m{n}")
                text = (f"id:m{n} sub:001 dlvrd:000 submit date:2403010000 done date:2403010001 "
                        f"stat:{stat} err:{err} text:").encode()
                # The submitting session if it can receive, else the newest receiver bind.
                receivers = [e for e in self.esmes if e.can_receive]
                target = next((e for e in receivers if e.session_id == ev.session_id),
                              receivers[-1] if receivers else None)
                if target is not None and ev.registered_delivery:
                    fut = asyncio.ensure_future(target.deliver_sm(
                        ev.source_addr, text, source_addr=ev.destination_addr, esm_class=0x04, tlvs=tlvs))
                    self._pending.add(fut)
                    fut.add_done_callback(self._done)

    def _done(self, fut: Any) -> None:
        self._pending.discard(fut)
        if not fut.cancelled():
            fut.exception()   # a receipt to a session that just closed may fail; not the point here


async def with_smsc(body: Callable[[Smsc], Awaitable[None]]) -> None:
    port = free_tcp_port()
    server = smpp34.Server("127.0.0.1", port, system_id="smsc")
    await server.start()
    smsc = Smsc(server, port)
    task = asyncio.create_task(smsc.serve())
    try:
        await body(smsc)
    finally:
        task.cancel()
        # Let receipts in flight settle first: the SMSC's core would otherwise resolve them on
        # a loop asyncio.run has already closed (a stray "Event loop is closed" on stderr).
        if smsc._pending:
            await asyncio.wait(set(smsc._pending), timeout=2)
        await server.stop()


def config(port: int, **kw: Any) -> SmppConfig:
    base: dict[str, Any] = dict(name="intl", host="127.0.0.1", port=port, system_id="esme",
                                password="pw", source_addr="1069", response_timeout=3.0,
                                backoff_min=0.05, backoff_max=0.2, wait_connected=2.0)
    base.update(kw)
    return SmppConfig(**base)


async def wait_until(pred: Callable[[], bool], timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def test_75_ascii_characters_go_out_as_one_gsm7_segment() -> None:
    async def body(smsc: Smsc) -> None:
        backend = SmppBackend(config(smsc.port))
        try:
            result = await backend.send(SmsMessage("13300000001", ASCII_75))
        finally:
            await backend.close()
        assert result.segments == 1
        (sub,) = smsc.submits
        assert sub.data_coding == 0 and not sub.esm_class & 0x40
        assert sub.short_message == ASCII_75.encode("ascii")   # these characters map 1:1 in GSM 03.38

    asyncio.run(with_smsc(body))


def test_long_gsm7_text_splits_at_153_septets_without_cutting_an_escape() -> None:
    # 152 plain characters, then "{" (escape + code = 2 septets) that would straddle 153.
    text = "a" * 152 + "{" + "b" * 40

    async def body(smsc: Smsc) -> None:
        backend = SmppBackend(config(smsc.port))
        try:
            result = await backend.send(SmsMessage("13300000001", text))
        finally:
            await backend.close()
        assert result.segments == 2
        first, second = smsc.submits
        for i, sub in enumerate((first, second), start=1):
            assert sub.data_coding == 0 and sub.esm_class & 0x40
            udh = sub.short_message[:6]
            assert udh[:3] == b"\x05\x00\x03" and udh[4:] == bytes([2, i])
        assert first.short_message[3] == second.short_message[3]     # same reference
        assert len(first.short_message) - 6 == 152                    # the escape pair moved on
        assert first.short_message[6:] + second.short_message[6:] == encode_gsm7(text)

    asyncio.run(with_smsc(body))


def test_text_outside_the_gsm_alphabet_falls_back_to_ucs2_and_ucs2_can_be_forced() -> None:
    async def body(smsc: Smsc) -> None:
        backend = SmppBackend(config(smsc.port))
        forced = SmppBackend(config(smsc.port, use_gsm7=False))
        try:
            await backend.send(SmsMessage("13300000001", "code `123456`"))   # backtick: not GSM
            await forced.send(SmsMessage("13300000001", ASCII_75))
        finally:
            await backend.close()
            await forced.close()
        assert [s.data_coding for s in smsc.submits] == [8, 8, 8]
        assert smsc.submits[0].short_message.decode("utf-16-be") == "code `123456`"
        # Forced UCS2: 75 characters > 70 need two segments, which is what GSM 7-bit avoids.
        assert all(s.esm_class & 0x40 for s in smsc.submits[1:])

    asyncio.run(with_smsc(body))


def test_system_type_ton_npi_alphanumeric_sender_and_destination_forms() -> None:
    async def body(smsc: Smsc) -> None:
        relay = await Relay(smsc.port).start()
        alpha = SmppBackend(config(relay.port, system_type="OTP01", source_addr="CityWiFi",
                                   source_ton=5, source_npi=0, service_type="CMT", protocol_id=0,
                                   dest_prefix="86", dest_ton=1, dest_npi=1))
        national = SmppBackend(config(smsc.port, dest_prefix="", dest_ton=2, dest_npi=1,
                                      registered_delivery=False))
        try:
            await alpha.send(SmsMessage("13300000001", ASCII_75))
            await national.send(SmsMessage("13300000002", ASCII_75))
        finally:
            await alpha.close()
            await national.close()
            await relay.stop()
        a, n = smsc.submits
        assert (a.source_addr, a.source_addr_ton, a.source_addr_npi) == ("CityWiFi", 5, 0)
        assert (a.destination_addr, a.dest_addr_ton, a.dest_addr_npi) == ("8613300000001", 1, 1)
        assert a.service_type == "CMT" and a.registered_delivery == 1
        assert (n.destination_addr, n.dest_addr_ton, n.dest_addr_npi) == ("13300000002", 2, 1)
        assert n.registered_delivery == 0
        command, bind = first_pdu(bytes(relay.sent[0]))
        assert command == 0x09                                    # bind_transceiver
        assert cstrings(bind, 3) == ["esme", "pw", "OTP01"]       # system_id, password, system_type

    asyncio.run(with_smsc(body))


def test_separate_transmitter_and_receiver_binds_carry_submits_and_receipts() -> None:
    reports: list[DeliveryReport] = []

    async def body(smsc: Smsc) -> None:
        relay = await Relay(smsc.port).start()
        backend = SmppBackend(config(relay.port, bind="separate"))
        backend.on_report(reports.append)
        try:
            await backend.start()
            await wait_until(lambda: len(smsc.esmes) == 2)
            result = await backend.send(SmsMessage("13300000001", ASCII_75))
            await wait_until(lambda: bool(reports))
        finally:
            await backend.close()
            await relay.stop()
        binds = sorted(first_pdu(bytes(s))[0] for s in relay.sent)
        assert binds == [0x01, 0x02]                              # bind_receiver + bind_transmitter
        transmitter = next(e for e in smsc.esmes if not e.can_receive)
        assert smsc.submits[0].session_id == transmitter.session_id
        assert reports[0].message_id == result.message_id and reports[0].delivered

    asyncio.run(with_smsc(body))


def test_tls_to_the_smsc_verifies_the_certificate(tmp_path: Path) -> None:
    ca, cert, key = make_certificates(tmp_path, "smsc")
    other_ca, _, _ = make_certificates(tmp_path, "other")
    reports: list[DeliveryReport] = []

    async def body(smsc: Smsc) -> None:
        relay = await Relay(smsc.port, server_context(cert, key)).start()
        good = SmppBackend(config(relay.port, tls=TlsOptions(ca_file=str(ca))))
        good.on_report(reports.append)
        wrong_ca = SmppBackend(config(relay.port, tls=TlsOptions(ca_file=str(other_ca)),
                                      wait_connected=0.5))
        wrong_name = SmppBackend(config(relay.port, tls=TlsOptions(ca_file=str(ca),
                                                                   server_name="smsc.example.net"),
                                        wait_connected=0.5))
        try:
            await good.send(SmsMessage("13300000001", ASCII_75))
            await wait_until(lambda: bool(reports))
            for bad in (wrong_ca, wrong_name):
                with pytest.raises(GatewayTransientError):
                    await bad.send(SmsMessage("13300000002", ASCII_75))
        finally:
            for b in (good, wrong_ca, wrong_name):
                await b.close()
            await relay.stop()
        assert [s.destination_addr for s in smsc.submits] == ["8613300000001"]
        assert reports[0].delivered

    asyncio.run(with_smsc(body))


@pytest.mark.parametrize(("stat", "err", "tlv", "fault"), [
    ("UNDELIV", "001", None, "unknown_subscriber"),            # err = MAP unknownSubscriber
    ("UNDELIV", "000", bytes([3, 0, 44]), "unknown_subscriber"),  # network_error_code GSM 44
    ("REJECTD", "011", None, "no_sms_service"),
    ("UNDELIV", "006", None, ""),                               # absent subscriber: temporary
    ("EXPIRED", "001", None, ""),
    ("DELIVRD", "000", None, ""),
])
def test_receipts_saying_not_a_subscriber_are_marked(stat: str, err: str, tlv: bytes | None,
                                                     fault: str) -> None:
    reports: list[DeliveryReport] = []

    async def body(smsc: Smsc) -> None:
        smsc.receipt = lambda ev, mid: (stat, err, [smpp34.Tlv(0x0423, tlv)] if tlv else [])
        backend = SmppBackend(config(smsc.port))
        backend.on_report(reports.append)
        try:
            await backend.send(SmsMessage("13300000001", ASCII_75))
            await wait_until(lambda: bool(reports))
        finally:
            await backend.close()

    asyncio.run(with_smsc(body))
    (report,) = reports
    assert (report.stat, report.err, report.number_fault) == (stat, err, fault)
    assert report.phone == "8613300000001"
