"""``citywifi radius`` (each worker) and ``citywifi sms-worker`` freeze what start-up built out
of the garbage collector's full collections (``portal.runtime.heap``), as web workers do
(tests/portal/commands/test_web_heap.py): a full collection walked every object of the process with all
its work stopped (183 ms in RADIUS, 83 ms in the sms-worker in a 5,000-login run)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_udp_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
FROZEN = re.compile(r"(radius worker|sms-worker): (\d+) start-up objects frozen")


def _frozen_lines(cmd: list[str], env: dict[str, str], log: Path, want: int) -> list[tuple[str, int]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "portal.cli", *cmd], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            found = [(m.group(1), int(m.group(2))) for m in FROZEN.finditer(log.read_text(errors="replace"))]
            if len(found) >= want:
                return found
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_radius_workers_and_the_sms_worker_freeze_their_start_up_heap(redis_url: str, redis_client: Any,
                                                                       tmp_path: Path) -> None:
    env = dict(os.environ, CITYWIFI_REDIS_URL=redis_url, CITYWIFI_DATA_DIR=str(tmp_path),
               CITYWIFI_LOG_LEVEL="INFO", CITYWIFI_SMS_BACKEND="file", PYTHONPATH=str(ROOT))
    radius = _frozen_lines(["radius", "--workers", "2", "--host", "127.0.0.1", "--auth-port",
                            str(free_udp_port()), "--acct-port", str(free_udp_port())],
                           env, tmp_path / "radius.log", want=2)
    assert [name for name, _ in radius] == ["radius worker", "radius worker"]
    sms = _frozen_lines(["sms-worker"], env, tmp_path / "sms.log", want=1)
    assert [name for name, _ in sms] == ["sms-worker"]
    # The whole server (modules, policy, caches): tens of thousands of objects each.
    assert all(count > 20_000 for _, count in radius + sms), radius + sms
