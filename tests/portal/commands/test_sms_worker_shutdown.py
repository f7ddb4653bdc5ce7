"""SIGTERM to a busy ``citywifi sms-worker``: the batch in flight is finished and recorded, the
jobs not taken stay queued, and a second worker sends them — every job exactly once, none left
"sending" (which would become an uncertain failure), none lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from portal.phone.sms_queue import SmsJob, SmsQueue
from portal.state import keys

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
JOBS = 3000


def _worker(name: str, redis_url: str, tmp_path: Path, outbox: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, CITYWIFI_DATA_DIR=str(tmp_path), CITYWIFI_SMS_BACKEND="file",
               CITYWIFI_SMS_OUTBOX_DIR=str(outbox), CITYWIFI_SMS_CLAIM_IDLE="1",
               CITYWIFI_LOG_LEVEL="INFO", PYTHONPATH=str(ROOT))
    out = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the child
    try:
        return subprocess.Popen([sys.executable, "-m", "portal.cli", "sms-worker", "--consumer", name,
                                 "--redis-url", redis_url], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        out.close()


def _count(outbox: Path) -> int:
    return len(list(outbox.glob("*.json"))) if outbox.is_dir() else 0


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def test_restart_mid_queue_sends_every_job_exactly_once(redis_client: Any, redis_url: str,
                                                         tmp_path: Path) -> None:
    queue = SmsQueue(redis_client)
    pipe_jobs = [SmsJob(f"189{i:08d}", "otp", {"code": f"{i % 1000000:06d}", "minutes": "5"}, "zh",
                        f"job-{i}") for i in range(JOBS)]
    for job in pipe_jobs:
        queue.enqueue(job)
    outbox = tmp_path / "outbox"
    first = _worker("w1", redis_url, tmp_path, outbox)
    try:
        deadline = time.monotonic() + 60
        while _count(outbox) < 100:
            assert time.monotonic() < deadline and first.poll() is None, (tmp_path / "w1.log").read_text()
            time.sleep(0.01)
        assert _stop(first) == 0, (tmp_path / "w1.log").read_text()
        # A clean exit: no "Exception ignored in ... __del__" from an event loop left unclosed.
        assert "Traceback" not in (tmp_path / "w1.log").read_text(), (tmp_path / "w1.log").read_text()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    sent_by_first = _count(outbox)
    assert sent_by_first < JOBS, "the first worker finished everything: nothing was interrupted"
    # Graceful: nothing left half-done by the stopped worker.
    statuses = [redis_client.hget(keys.sms_job(j.request_id), "status") for j in pipe_jobs]
    assert b"sending" not in statuses
    assert queue.pending_count() == 0
    assert sum(s in (b"sent", b"delivered") for s in statuses) == sent_by_first

    second = _worker("w2", redis_url, tmp_path, outbox)
    try:
        deadline = time.monotonic() + 90
        while _count(outbox) < JOBS:
            assert time.monotonic() < deadline and second.poll() is None, (tmp_path / "w2.log").read_text()
            time.sleep(0.05)
        time.sleep(0.5)       # a duplicate, if any, would show up now
    finally:
        assert _stop(second) == 0
    messages = [json.loads(p.read_text(encoding="utf-8")) for p in outbox.glob("*.json")]
    ids = [m["request_id"] for m in messages]
    assert len(ids) == JOBS and set(ids) == {j.request_id for j in pipe_jobs}   # each exactly once
    statuses = [redis_client.hget(keys.sms_job(j.request_id), "status") for j in pipe_jobs]
    assert all(s in (b"sent", b"delivered") for s in statuses), set(statuses)
