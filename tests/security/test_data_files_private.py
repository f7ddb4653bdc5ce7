"""Another local user must not read what `citywifi up` writes: the Redis AOF (queued SMS jobs
carry the code), the SMS outbox and the logs. And the code itself leaves Redis once the SMS is
sent, or after a bounded time when it never is."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

from portal.phone.sms_queue import SmsJob, SmsQueue
from portal.state import keys

ROOT = Path(__file__).resolve().parents[2]


def _world_or_group_writable(root: Path) -> list[str]:
    """Files and directories under ``root`` that others can read/enter or the group can write."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
                continue
            if stat.S_IMODE(st.st_mode) & 0o027:
                bad.append(f"{path.relative_to(root)} {stat.S_IMODE(st.st_mode):o}")
    return bad


def test_up_keeps_its_data_directory_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # What an earlier run (before this fix) left behind: an open directory and a readable log.
    (data / "logs").mkdir(parents=True)
    os.chmod(data, 0o755)
    os.chmod(data / "logs", 0o755)
    old_log = data / "logs" / "web.log"
    old_log.write_text("phone 18900000001 …\n")
    os.chmod(old_log, 0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update({"PYTHONPATH": str(ROOT), "CITYWIFI_DATA_DIR": str(data)})
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "up", "--demo", "--only", "sms-worker"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        preexec_fn=lambda: os.umask(0o022),       # a usual login shell's umask
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while "citywifi is running" not in proc.stdout.readline():
            assert time.monotonic() < deadline and proc.poll() is None, "up did not start"
        client = redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock"))
        queue = SmsQueue(client)
        job_id = queue.enqueue(SmsJob("18900000001", "otp", {"code": "482913", "minutes": "5"}))
        outbox = data / "sms-outbox"
        deadline = time.monotonic() + 30
        while not list(outbox.glob("*.json")):
            assert time.monotonic() < deadline, "the SMS worker did not write the outbox"
            time.sleep(0.1)
        # The code is gone from Redis once the outcome is recorded.
        deadline = time.monotonic() + 10
        while (queue.outcome(job_id) or {}).get("status") in (None, "queued", "sending"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.hget(keys.sms_job(job_id), "job") is None
        assert queue.job(job_id) is None
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    aof = [p for p in (data / "redis").rglob("*") if "appendonly" in p.name]
    assert aof, "no AOF written"
    for must_exist in (data / "logs" / "sms-worker.log", data / "redis" / "redis.log",
                       *outbox.glob("*.json"), *aof):
        assert must_exist.exists()
    assert _world_or_group_writable(data) == []


def test_a_queued_code_does_not_outlive_its_usefulness(redis_client: Any) -> None:
    queue = SmsQueue(redis_client, queued_ttl=1)
    job_id = queue.enqueue(SmsJob("18900000001", "otp", {"code": "482913"}))
    assert queue.job(job_id) is not None
    assert 0 < redis_client.ttl(keys.sms_job(job_id)) <= 1     # not the 7-day outcome TTL
    time.sleep(1.2)
    assert queue.job(job_id) is None and not redis_client.exists(keys.sms_job(job_id))


def test_recording_the_outcome_drops_the_code_but_keeps_the_outcome(redis_client: Any) -> None:
    queue = SmsQueue(redis_client, ttl=3600)
    queue.ensure_group()
    job_id = queue.enqueue(SmsJob("18900000001", "otp", {"code": "482913"}))
    (entry,) = queue.read("w1", 10, 100)
    assert queue.begin_send(job_id, "w1") == "queued"
    queue.finish(entry.entry_id, job_id, "failed", error_code="gateway_down")
    raw = redis_client.hgetall(keys.sms_job(job_id))
    assert b"job" not in raw and b"482913" not in b"".join(raw.values())
    assert (queue.outcome(job_id) or {})["status"] == "failed"
    assert 3000 < redis_client.ttl(keys.sms_job(job_id)) <= 3600
