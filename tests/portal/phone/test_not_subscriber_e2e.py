"""End to end: a gateway reports "not a subscriber" for a number → the next code
request for it is refused with a clear zh/en message and NO Submit reaches the gateway; after
``number_policy.not_subscriber_ttl`` it is allowed again.

Two paths: the phone web flow (Flask test client over the real stack) with an in-process
sms-worker and the fake China Telecom SMGW reporting UNDELIV err 004; and the real
`citywifi sms-worker` process with the fake China Mobile ISMG reporting MK:0001.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.commands.sms_worker import SmsWorker, build_backend, build_catalog
from portal.phone.otp import OtpRefused, OtpService
from portal.phone.phone_policy import build_number_policy
from portal.phone.sms_queue import SmsJob, SmsQueue
from portal.runtime.settings import NumberPolicySettings, OtpSettings, SmsGatewaySettings, SmsSettings
from portal.state import keys
from tests.e2e.stack import Stack, phone, running_stack, stack_app
from tests.fakes.cmpp_gateway import FakeCmppGateway
from tests.fakes.smgp_gateway import FakeSmgpGateway
from tests.portal.web.phone.test_phone_pages import field, land

ROOT = Path(__file__).resolve().parents[3]
TTL = 2


def wait_for(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        # No resend cooldown, so "allowed again after the expiry" is about the report alone.
        otp_cfg = dataclasses.replace(s.settings.otp, resend_cooldown=0)
        s.journey.otp = OtpService(redis_client, otp_cfg, otp_cfg.hmac_key.encode(),
                                   policy=build_number_policy(s.settings.number_policy, redis_client))
        yield s


@pytest.fixture
def smgw() -> Iterator[FakeSmgpGateway]:
    with FakeSmgpGateway("10001", "s3cret", report_delay=0.01) as gateway:
        yield gateway


def test_phone_flow_refuses_a_number_the_gateway_called_unknown(
        stack: Stack, smgw: FakeSmgpGateway, redis_client: Any, tmp_path: Path) -> None:
    number = phone(7)
    smgw.report_stats[number] = ("UNDELIV", "004")            # SMGP err 004: not a subscriber
    settings = dataclasses.replace(stack.settings, sms=SmsSettings(gateways=(SmsGatewaySettings(
        name="ct", kind="smgp", host="127.0.0.1", port=smgw.port, account="10001", password="s3cret",
        src_number="10690001", response_timeout=3.0),)))
    worker = SmsWorker(SmsQueue(redis_client), build_backend(settings.sms.gateways[0], settings),
                       build_catalog(settings.sms), consumer="e2e", block_ms=100, not_subscriber_ttl=TTL)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    app: Flask = stack_app(stack)
    client = app.test_client()
    try:
        html, _ = land(client, stack, 7)
        c = field(html, "c")
        # 1. First code: queued, sent by the worker, the SMGW answers with an UNDELIV/004 report.
        first = client.post("/portal/code", data={"c": c, "phone": number})
        assert first.status_code == 200 and 'id="notice"' in first.get_data(as_text=True)
        wait_for(lambda: redis_client.get(keys.carrier_lookup(number)) is not None, 10,
                 "the report to reach the lookup cache")
        assert smgw.submits_seen == 1
        queued = redis_client.xlen(keys.sms_stream())
        # 2. Next request: refused at once, in the phone's language, nothing queued or sent.
        zh = client.post("/portal/code", data={"c": c, "phone": number})
        text = zh.get_data(as_text=True)
        assert zh.status_code == 403 and 'data-code="not_subscriber"' in text
        assert "最近发往该号码的短信无法送达" in text
        en = client.post("/portal/code", data={"c": c, "phone": number},
                         headers={"Accept-Language": "en-US,en;q=0.9"})
        assert en.status_code == 403
        assert "Recent SMS to this number could not be delivered" in en.get_data(as_text=True)
        time.sleep(0.3)
        assert smgw.submits_seen == 1 and redis_client.xlen(keys.sms_stream()) == queued
        # Another number on the same gateway is unaffected.
        other = client.post("/portal/code", data={"c": c, "phone": phone(8)})
        assert other.status_code == 200
        wait_for(lambda: smgw.submits_seen == 2, 10, "the other number's submit")
        # 3. After the expiry the number is allowed again and a Submit goes out.
        wait_for(lambda: redis_client.get(keys.carrier_lookup(number)) is None, TTL + 3, "expiry")
        again = client.post("/portal/code", data={"c": c, "phone": number})
        assert again.status_code == 200 and 'id="notice"' in again.get_data(as_text=True)
        wait_for(lambda: smgw.submits_seen == 3, 10, "the submit after the expiry")
        assert smgw.phones().count(number) == 2
    finally:
        worker.stopping.set()
        thread.join(10)


def test_sms_worker_process_feeds_cmpp_mk0001_into_the_policy(
        tmp_path: Path, redis_client: Any, redis_url: str) -> None:
    number = "13800138000"                                     # a China Mobile number
    with FakeCmppGateway("901234", "s3cret", report_delay=0.01) as ismg:
        ismg.report_stats[number] = "MK:0001"                  # MAP unknownSubscriber
        cfg = tmp_path / "citywifi.toml"
        cfg.write_text(f"""
data_dir = "{tmp_path}"
[number_policy]
not_subscriber_ttl = {TTL}
[[sms.gateways]]
name = "cm"
kind = "cmpp"
host = "127.0.0.1"
port = {ismg.port}
account = "901234"
password = "s3cret"
src_number = "1065001"
response_timeout = 3.0
""", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
        env["PYTHONPATH"] = str(ROOT)
        proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "-c", str(cfg), "sms-worker",
                                 "--redis-url", redis_url, "--consumer", "cm1"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        otp = OtpService(redis_client, OtpSettings(resend_cooldown=0, hmac_key="h" * 32), b"h" * 32,
                         policy=build_number_policy(NumberPolicySettings(allowed_carriers=("mobile",)),
                                                    redis_client))
        queue = SmsQueue(redis_client)

        def ask() -> None:   # what the web does: policy + limits, then queue the SMS
            issued = otp.request_code(number, mac="02:00:00:00:00:01")
            queue.enqueue(SmsJob(issued.phone, "otp", {"code": issued.code, "minutes": "5"}))

        try:
            ask()
            wait_for(lambda: redis_client.get(keys.carrier_lookup(number)) is not None, 20,
                     "the worker to record the MK:0001 report")
            with pytest.raises(OtpRefused) as caught:
                ask()
            assert caught.value.code == "not_subscriber" and caught.value.message_en
            time.sleep(0.3)
            assert ismg.submits_seen == 1
            wait_for(lambda: redis_client.get(keys.carrier_lookup(number)) is None, TTL + 3, "expiry")
            ask()
            wait_for(lambda: ismg.submits_seen == 2, 20, "the submit after the expiry")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
