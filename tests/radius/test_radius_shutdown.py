"""SIGTERM to a loaded ``citywifi radius`` (several worker processes): it stops cleanly (exit 0,
no worker left) and every Accounting-Request that got an Accounting-Response is in the
accounting log — an answer is only sent once the record is durable, shutdown included."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from portal.state import keys
from tests.conftest import free_udp_port
from tests.radius.serverkit import MAC, PHONE, acct_request, register

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Loader:
    """Threads sending Accounting-Request Starts with unique session ids, each waiting for its
    answer (0.5 s) before the next; records which ids were answered."""

    def __init__(self, port: int, threads: int = 6) -> None:
        self.port = port
        self.answered: set[str] = set()
        self.sent = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(threads)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)

    def _run(self, t: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        n = 0
        try:
            while not self.stop.is_set():
                sid = f"shut-{t}-{n}"
                pkt: Any = acct_request(Acct_Status_Type="Start", Acct_Session_Id=sid, User_Name=PHONE,
                                        NAS_IP_Address="127.0.0.1", Calling_Station_Id=MAC,
                                        Framed_IP_Address=f"10.9.{t}.{n % 250 + 1}")
                pkt.id = n % 256
                raw = pkt.RequestPacket()
                n += 1
                with self.lock:
                    self.sent += 1
                try:
                    sock.sendto(raw, ("127.0.0.1", self.port))
                    reply = sock.recv(4096)
                except OSError:     # timeout, or ICMP port unreachable once the server is gone
                    continue
                if reply[0] == 5 and reply[1] == raw[1]:   # Accounting-Response to this request
                    with self.lock:
                        self.answered.add(sid)
        finally:
            sock.close()


def test_sigterm_under_load_loses_no_answered_accounting(redis_client: Any, redis_url: str,
                                                         tmp_path: Path) -> None:
    register(redis_client)
    auth, acct = free_udp_port(), free_udp_port()
    env = dict(os.environ, CITYWIFI_REDIS_URL=redis_url, CITYWIFI_DATA_DIR=str(tmp_path),
               CITYWIFI_LOG_LEVEL="INFO", PYTHONPATH=str(ROOT))
    log_path = tmp_path / "radius.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "portal.cli", "radius", "--workers", "2", "--host", "127.0.0.1",
             "--auth-port", str(auth), "--acct-port", str(acct)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    loader = Loader(acct)
    try:
        deadline = time.monotonic() + 30
        loader.start()
        while not loader.answered:
            assert time.monotonic() < deadline, log_path.read_text()
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) == 3               # two workers and the maintenance process
        time.sleep(1.0)                        # full load for a second
        answered_before = len(loader.answered)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
        time.sleep(0.3)
    finally:
        loader.join()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, log_path.read_text()
    assert not any(_alive(pid) for pid in workers), "a RADIUS worker outlived its parent"
    assert answered_before >= 20 and loader.sent > len(loader.answered)   # load was real, and cut off
    logged = set()
    for _, fields in redis_client.xrange(keys.acct_log()):
        sid = fields.get(b"sid")
        if sid is not None:
            logged.add(sid.decode())
    missing = loader.answered - logged
    assert not missing, f"{len(missing)} answered requests not in the log: {sorted(missing)[:5]}"
    assert "stopped" in log_path.read_text()
