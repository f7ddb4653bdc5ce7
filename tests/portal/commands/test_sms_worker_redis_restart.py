"""The sms-worker survives Redis going away and coming back (restart on the same AOF): its loop
logs, backs off and carries on instead of dying with the first ConnectionError, and a delivery
report that arrives meanwhile is written once Redis is back instead of being dropped."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from portal.commands.sms_worker import SmsWorker, build_catalog
from portal.phone.sms_queue import SmsJob, SmsQueue
from portal.runtime.settings import RedisSettings, SmsSettings
from portal.state import connect
from portal.state.embedded import EmbeddedRedis
from sms_gateway.backend import DeliveryReport
from sms_gateway.file_backend import FileBackend


def _sent_to(outbox: Path, phone: str, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outbox.is_dir() and any(phone in p.read_text(encoding="utf-8") for p in outbox.glob("*.json")):
            return True
        time.sleep(0.05)
    return False


def test_worker_carries_on_after_a_redis_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", port=0).start()
    client = connect(RedisSettings(socket_timeout=1.0), server.url)
    outbox = tmp_path / "outbox"
    queue = SmsQueue(client)
    worker = SmsWorker(queue, FileBackend("file", outbox), build_catalog(SmsSettings()),
                       consumer="w1", block_ms=200, claim_idle=1.0)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        queue.enqueue(SmsJob("18900000001", "otp", {"code": "123456", "minutes": "5"}, "zh", "r1"))
        assert _sent_to(outbox, "18900000001")
        server.kill()                       # Redis gone: the worker's read fails
        time.sleep(0.8)
        assert thread.is_alive()
        server.start()                      # back on the same port and AOF
        queue.enqueue(SmsJob("18900000002", "otp", {"code": "654321", "minutes": "5"}, "zh", "r2"))
        assert _sent_to(outbox, "18900000002")
        assert thread.is_alive()
    finally:
        worker.stopping.set()
        thread.join(10)
        client.close()
        server.stop()
    assert not thread.is_alive()
    # The gateway loop is closed on the way out: left to the garbage collector at interpreter
    # exit it is closed after its self-pipe, which prints a traceback into the worker's log.
    assert worker.loop.is_closed()


def test_delivery_report_waits_out_a_redis_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", port=0).start()
    client = connect(RedisSettings(socket_timeout=1.0), server.url)
    queue = SmsQueue(client)
    worker = SmsWorker(queue, FileBackend("file", tmp_path / "outbox"), build_catalog(SmsSettings()),
                       consumer="w1")
    try:
        queue.ensure_group()
        job_id = queue.enqueue(SmsJob("18900000003", "otp", {"code": "1", "minutes": "5"}, "zh", "r3"))
        entry = queue.read("w1", 1, 100)[0]
        assert queue.begin_send(job_id, "w1") == "queued"
        queue.finish(entry.entry_id, job_id, "sent", gateway="file", message_id="m1")
        server.kill()
        recording = threading.Thread(
            target=worker._record_report, args=(DeliveryReport("file", "m1", "DELIVRD", "000"),))
        recording.start()
        time.sleep(0.7)                     # the report arrives while Redis is down …
        server.start()                      # … and is written once it is back
        recording.join(15)
        assert not recording.is_alive()
        outcome = queue.outcome(job_id)
        assert outcome is not None and outcome["status"] == "delivered", outcome
    finally:
        client.close()
        server.stop()
