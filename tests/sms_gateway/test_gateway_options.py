"""CMPP and SMGP Submit options against the fake gateways, which check each
field the way the operator's gateway does and refuse wrong values with the spec's codes; plus
reports that say "not a subscriber", separate SMGP logins and TLS."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sms_gateway.backend import DeliveryReport, SmsBackend, SmsMessage
from sms_gateway.cmpp_backend import CmppBackend, CmppConfig
from sms_gateway.errors import GatewayPermanentError, GatewayTransientError
from sms_gateway.pdu import cmpp, smgp
from sms_gateway.session import TlsOptions
from sms_gateway.smgp_backend import SmgpBackend, SmgpConfig
from tests.fakes.cmpp_gateway import FakeCmppGateway
from tests.fakes.smgp_gateway import FakeSmgpGateway
from tests.sms_gateway.smpp_peer import Relay, make_certificates, server_context

OTP = "【无线城市】您的上网验证码是123456，5分钟内有效。"
_TIMING: dict[str, Any] = dict(response_timeout=2.0, backoff_min=0.05, backoff_max=0.2, wait_connected=1.0)


@pytest.fixture
def cm() -> Iterator[FakeCmppGateway]:
    with FakeCmppGateway("901234", "s3cret", report_delay=0.01) as gateway:
        yield gateway


@pytest.fixture
def ct() -> Iterator[FakeSmgpGateway]:
    with FakeSmgpGateway("10001", "s3cret", report_delay=0.01) as gateway:
        yield gateway


def cmpp_backend(gw: FakeCmppGateway, **kw: Any) -> CmppBackend:
    return CmppBackend(CmppConfig(**{**dict(name="cm", host="127.0.0.1", port=gw.port, sp_id="901234",
                                            secret="s3cret", src_id="1065001", **_TIMING), **kw}))


def smgp_backend(gw: FakeSmgpGateway, port: int = 0, **kw: Any) -> SmgpBackend:
    return SmgpBackend(SmgpConfig(**{**dict(name="ct", host="127.0.0.1", port=port or gw.port,
                                            client_id="10001", secret="s3cret",
                                            src_term_id="10690001", **_TIMING), **kw}))


def run_with(backend: SmsBackend, body: Callable[[SmsBackend], Awaitable[None]]) -> list[DeliveryReport]:
    reports: list[DeliveryReport] = []

    async def main() -> None:
        backend.on_report(reports.append)
        try:
            await body(backend)
        finally:
            await backend.close()

    asyncio.run(main())
    return reports


async def wait_reports(reports: list[DeliveryReport], n: int = 1) -> None:
    for _ in range(150):
        if len(reports) >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {n} reports, got {len(reports)}")


# --- CMPP ----------------------------------------------------------------------------------


def test_cmpp_fields_from_config_reach_the_ismg(cm: FakeCmppGateway) -> None:
    cm.service_ids, cm.src_prefix, cm.dest_form = {"WIFIOTP"}, "1065", "86"
    backend = cmpp_backend(cm, service_id="WIFIOTP", fee_type="02", fee_code="000010",
                           fee_user_type=3, fee_terminal_id="8613800138001", tp_pid=0x7F,
                           dest_prefix="86", registered_delivery=False)

    async def body(b: SmsBackend) -> None:
        await b.send(SmsMessage("13800138000", "字" * 100))     # two parts: TP_udhi + Pk fields
        await asyncio.sleep(0.1)

    reports = run_with(backend, body)
    assert not cm.refusals and len(cm.received) == 2 and reports == []   # no report asked for
    first: cmpp.Submit = cm.received[0].pdu
    assert first.dest_terminal_ids == ("8613800138000",) and first.msg_src == "901234"
    assert (first.service_id, first.fee_type, first.fee_code) == ("WIFIOTP", "02", "000010")
    assert (first.fee_user_type, first.fee_terminal_id, first.tp_pid) == (3, "8613800138001", 0x7F)
    assert first.registered_delivery == 0
    assert [(r.pdu.tp_udhi, r.pdu.pk_total, r.pdu.pk_number) for r in cm.received] == [(1, 2, 1), (1, 2, 2)]


@pytest.mark.parametrize(("kw", "gw_attrs", "field", "result", "error"), [
    ({"fee_type": "09"}, {}, "FeeType", 5, GatewayTransientError),
    ({"fee_user_type": 3}, {}, "Fee_terminal_Id", 12, GatewayTransientError),
    ({"msg_src": "123456"}, {}, "Msg_src", 11, GatewayTransientError),
    ({"service_id": "OTHER"}, {"service_ids": {"WIFIOTP"}}, "Service_Id", 7, GatewayTransientError),
    ({"src_id": "1069"}, {"src_prefix": "1065"}, "Src_Id", 10, GatewayTransientError),
    ({}, {"dest_form": "86"}, "", 13, GatewayPermanentError),      # bare number, ISMG wants 86…
])
def test_cmpp_ismg_refuses_wrong_values(cm: FakeCmppGateway, kw: dict[str, Any], gw_attrs: dict[str, Any],
                                        field: str, result: int, error: type[Exception]) -> None:
    for name, value in gw_attrs.items():
        setattr(cm, name, value)

    async def body(b: SmsBackend) -> None:
        with pytest.raises(error) as caught:
            await b.send(SmsMessage("13800138000", OTP))
        assert getattr(caught.value, "code", "") == f"cmpp_{result}"

    run_with(cmpp_backend(cm, **kw), body)
    assert cm.received == []
    assert cm.refusals == ([(field, result)] if field else [])


@pytest.mark.parametrize(("stat", "fault"), [("MK:0001", "unknown_subscriber"), ("MI:0011", "no_sms_service"),
                                            ("MK:0013", ""), ("UNDELIV", ""), ("DELIVRD", "")])
def test_cmpp_report_codes_meaning_not_a_subscriber(cm: FakeCmppGateway, stat: str, fault: str) -> None:
    cm.report_stats["13800138000"] = stat
    reports: list[DeliveryReport] = []

    async def body(b: SmsBackend) -> None:
        b.on_report(reports.append)
        await b.send(SmsMessage("13800138000", OTP))
        await wait_reports(reports)

    run_with(cmpp_backend(cm), body)
    (report,) = reports
    assert (report.stat, report.number_fault, report.phone) == (stat, fault, "13800138000")


def test_cmpp_operator_listed_codes_count_too(cm: FakeCmppGateway) -> None:
    cm.report_stats["13800138000"] = "DB:0141"
    reports: list[DeliveryReport] = []

    async def body(b: SmsBackend) -> None:
        b.on_report(reports.append)
        await b.send(SmsMessage("13800138000", OTP))
        await wait_reports(reports)

    run_with(cmpp_backend(cm, not_subscriber_codes=("DB:0141",)), body)
    assert reports[0].number_fault == "unknown_subscriber"


# --- SMGP ----------------------------------------------------------------------------------


def test_smgp_fields_from_config_reach_the_smgw(ct: FakeSmgpGateway) -> None:
    ct.service_ids, ct.src_prefix, ct.dest_form, ct.msg_src = {"WIFI"}, "1069", "86", "SP10001"
    backend = smgp_backend(ct, service_id="WIFI", fee_type="01", fee_code="000005",
                           fixed_fee="000100", charge_term_id="8613300000002", tp_pid=0x7F,
                           msg_src="SP10001", dest_prefix="86", need_report=False)

    async def body(b: SmsBackend) -> None:
        await b.send(SmsMessage("13300000001", "字" * 100))
        await asyncio.sleep(0.1)

    reports = run_with(backend, body)
    assert not ct.refusals and len(ct.received) == 2 and reports == []
    first: smgp.Submit = ct.received[0].pdu
    assert first.dest_term_ids == ("8613300000001",) and first.need_report == 0
    assert (first.service_id, first.fee_type, first.fee_code, first.fixed_fee) == ("WIFI", "01", "000005",
                                                                                  "000100")
    assert first.charge_term_id == "8613300000002"
    tlvs = {t.tag: t.value for t in first.tlvs}
    assert tlvs[smgp.TlvTag.TP_PID] == b"\x7f" and tlvs[smgp.TlvTag.MSG_SRC] == b"SP10001\0"
    assert (tlvs[smgp.TlvTag.TP_UDHI], tlvs[smgp.TlvTag.PK_TOTAL], tlvs[smgp.TlvTag.PK_NUMBER]) == (
        b"\x01", b"\x02", b"\x01")


@pytest.mark.parametrize(("kw", "gw_attrs", "field", "status", "error"), [
    ({"fee_type": "05"}, {}, "FeeType", 32, GatewayTransientError),
    ({"fee_code": "12"}, {}, "FeeCode", 33, GatewayTransientError),
    ({"charge_term_id": "abc"}, {}, "ChargeTermID", 48, GatewayTransientError),
    ({"msg_src": "OTHER"}, {"msg_src": "SP10001"}, "MsgSrc", 49, GatewayTransientError),
    ({"service_id": "X"}, {"service_ids": {"WIFI"}}, "ServiceID", 43, GatewayTransientError),
    ({"dest_prefix": "86"}, {}, "", 47, GatewayPermanentError),     # SMGW wants bare numbers
])
def test_smgp_smgw_refuses_wrong_values(ct: FakeSmgpGateway, kw: dict[str, Any], gw_attrs: dict[str, Any],
                                        field: str, status: int, error: type[Exception]) -> None:
    for name, value in gw_attrs.items():
        setattr(ct, name, value)

    async def body(b: SmsBackend) -> None:
        with pytest.raises(error) as caught:
            await b.send(SmsMessage("13300000001", OTP))
        assert getattr(caught.value, "code", "") == f"smgp_{status}"

    run_with(smgp_backend(ct, **kw), body)
    assert ct.received == []
    assert ct.refusals == ([(field, status)] if field else [])


@pytest.mark.parametrize(("stat", "err", "fault"), [("UNDELIV", "004", "unknown_subscriber"),
                                                   ("UNDELIV", "008", "no_sms_service"),
                                                   ("UNDELIV", "001", ""), ("DELIVRD", "000", "")])
def test_smgp_report_codes_meaning_not_a_subscriber(ct: FakeSmgpGateway, stat: str, err: str,
                                                    fault: str) -> None:
    ct.report_stats["13300000001"] = (stat, err)
    reports: list[DeliveryReport] = []

    async def body(b: SmsBackend) -> None:
        b.on_report(reports.append)
        await b.send(SmsMessage("13300000001", OTP))
        await wait_reports(reports)

    run_with(smgp_backend(ct), body)
    (report,) = reports
    assert (report.stat, report.err, report.number_fault) == (stat, err, fault)


def test_smgp_separate_send_and_receive_logins(ct: FakeSmgpGateway) -> None:
    reports: list[DeliveryReport] = []

    async def body(b: SmsBackend) -> None:
        b.on_report(reports.append)
        await b.start()
        for _ in range(100):
            if ct.logins == 2:
                break
            await asyncio.sleep(0.02)
        result = await b.send(SmsMessage("13300000001", OTP))
        await wait_reports(reports)
        assert reports[0].message_id == result.message_id

    run_with(smgp_backend(ct, bind="separate"), body)
    assert sorted(ct.login_modes.values()) == [0, 1] and not ct.refusals
    # The Submit went over the send login, the report came back over the receive login.
    assert ct.login_modes[ct.received[0].conn] == 0
    assert [ct.login_modes[c] for c in ct.report_conns] == [1] and ct.reports_acked


def test_smgp_over_tls(ct: FakeSmgpGateway, tmp_path: Path) -> None:
    ca, cert, key = make_certificates(tmp_path, "smgw")
    reports: list[DeliveryReport] = []

    async def main() -> None:
        relay = await Relay(ct.port, server_context(cert, key)).start()
        backend = smgp_backend(ct, port=relay.port, tls=TlsOptions(ca_file=str(ca)))
        backend.on_report(reports.append)
        try:
            await backend.send(SmsMessage("13300000001", OTP))
            await wait_reports(reports)
        finally:
            await backend.close()
            await relay.stop()
        assert relay.connections == 1 and relay.sent[0][:4] != b""   # bytes went through TLS

    asyncio.run(main())
    assert ct.received[0].content.decode("utf-16-be") == OTP and reports[0].delivered
