"""`citywifi sms-worker` end to end: real worker subprocesses, real Redis, fake SMGP gateway.

The crash test kills a worker with SIGKILL in the middle of a run and starts another: every
job ends in a final state (none lost), and no phone number reaches the gateway twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.phone.sms_queue import SmsJob, SmsQueue
from portal.runtime.settings import Settings, SmsGatewaySettings, SmsSettings
from tests.fakes.smgp_gateway import FakeSmgpGateway

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def gw() -> Iterator[FakeSmgpGateway]:
    with FakeSmgpGateway("10001", "s3cret", report_delay=0.01) as gateway:
        yield gateway


def write_config(tmp_path: Path, gw: FakeSmgpGateway, *, claim_idle: float = 1.0) -> Path:
    cfg = tmp_path / "citywifi.toml"
    cfg.write_text(f"""
data_dir = "{tmp_path}"
[sms]
claim_idle = {claim_idle}
batch = 8
[[sms.gateways]]
name = "ct"
kind = "smgp"
priority = 10
host = "127.0.0.1"
port = {gw.port}
account = "10001"
password = "s3cret"
src_number = "10690001"
response_timeout = 3.0
""", encoding="utf-8")
    return cfg


def start_worker(cfg: Path, redis_url: str, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "-c", str(cfg), "sms-worker", "--redis-url", redis_url,
         "--consumer", name],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def wait_for(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_sends_records_outcome_and_report_then_stops_on_sigterm(
        tmp_path: Path, gw: FakeSmgpGateway, redis_client: Any, redis_url: str) -> None:
    q = SmsQueue(redis_client)
    ok = q.enqueue(SmsJob("13300000001", "otp", {"code": "123456"}))
    en = q.enqueue(SmsJob("13300000002", "otp", {"code": "654321"}, "en"))
    gw.illegal_numbers = {"13300000009"}
    bad = q.enqueue(SmsJob("13300000009", "otp", {"code": "111111"}))
    too_long = q.enqueue(SmsJob("13300000003", "otp", {"code": "9" * 80}))
    proc = start_worker(write_config(tmp_path, gw), redis_url, "w1")
    try:
        wait_for(lambda: all((q.outcome(j) or {}).get("status") in ("delivered", "failed")
                             for j in (ok, en, bad, too_long)), 20, "all four outcomes")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        stop(proc)
    assert q.outcome(ok)["status"] == "delivered"  # type: ignore[index]
    assert q.outcome(ok)["gateway"] == "ct" and q.outcome(ok)["message_id"]  # type: ignore[index]
    texts = {r.phone: r.content.decode("utf-16-be") for r in gw.received}
    assert texts["13300000001"] == "【无线城市】您的上网验证码是 123456，5分钟内有效。"
    assert texts["13300000002"] == "【无线城市】Your Wi-Fi code is 654321, valid for 5 min."
    failed = q.outcome(bad)
    assert failed is not None and failed["error_code"] == "smgp_47"
    assert failed["message_zh"] and failed["message_en"]
    assert q.outcome(too_long)["error_code"] == "message_too_long"  # type: ignore[index]
    assert "13300000003" not in texts
    assert gw.exits == 1  # logged out politely on SIGTERM


def test_sigkill_mid_run_loses_nothing_and_sends_nothing_twice(
        tmp_path: Path, gw: FakeSmgpGateway, redis_client: Any, redis_url: str) -> None:
    q = SmsQueue(redis_client)
    gw.reply_delay = 0.03  # keep the first worker busy long enough to be killed mid-batch
    n = 120
    job_ids = [q.enqueue(SmsJob(f"133{i:08d}", "otp", {"code": f"{i:06d}"})) for i in range(n)]
    phone_of = {j: f"133{i:08d}" for i, j in enumerate(job_ids)}   # the job's text is gone once sent
    cfg = write_config(tmp_path, gw, claim_idle=1.0)
    first = start_worker(cfg, redis_url, "first")
    second = None
    try:
        wait_for(lambda: len(gw.received) >= 30, 30, "first worker to be mid-run")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = len(gw.received)
        assert killed_at < n, "the first worker finished before it could be killed"
        second = start_worker(cfg, redis_url, "second")
        final = ("sent", "delivered", "undelivered", "failed")
        wait_for(lambda: all((q.outcome(j) or {}).get("status") in final for j in job_ids),
                 40, "every job to reach a final state")
        wait_for(lambda: q.pending_count() == 0, 10, "no pending stream entries")
    finally:
        stop(first)
        if second is not None:
            stop(second)
    counts = Counter(gw.phones())
    assert max(counts.values()) == 1, "a phone received the same SMS twice"
    outcomes = {j: q.outcome(j) for j in job_ids}
    uncertain = [j for j, o in outcomes.items() if o and o["error_code"] == "sms_uncertain"]
    good = [j for j, o in outcomes.items() if o and o["status"] in ("sent", "delivered")]
    # Only the batch in flight at the kill can be uncertain; everything else was sent once.
    assert len(uncertain) <= 8
    assert len(good) + len(uncertain) == n
    for j in good:
        assert counts[phone_of[j]] == 1


def test_build_backends_from_settings(tmp_path: Path) -> None:
    from portal.commands.sms_worker import build_backends

    settings = Settings(data_dir=tmp_path, sms=SmsSettings(gateways=(
        SmsGatewaySettings(name="b", kind="cmpp", priority=20, host="127.0.0.1", account="901234"),
        SmsGatewaySettings(name="a", kind="smgp", priority=10, host="127.0.0.1"),
        SmsGatewaySettings(name="f", kind="file", priority=99),
    )))
    fb = build_backends(settings)
    assert [b.name for b in fb.backends] == ["a", "b", "f"]
