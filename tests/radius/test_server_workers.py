"""`citywifi radius --workers 2` as a real process tree: serves, refuses a busy port, restarts a
killed worker, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pyrad.packet import AccessAccept, AuthPacket, StatusServer

from portal.credentials import CredentialStore
from tests.conftest import free_udp_port
from tests.radius.serverkit import (
    MAC,
    PHONE,
    SECRET,
    access_request,
    decode_reply,
    dictionary,
    exchange,
    register,
)

ROOT = Path(__file__).resolve().parents[2]


def start(redis_url: str, auth: int, acct: int, workers: int = 2) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update(CITYWIFI_REDIS_URL=redis_url, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "--log-level", "INFO", "radius", "--workers", str(workers),
         "--host", "127.0.0.1", "--auth-port", str(auth), "--acct-port", str(acct)],
        env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        raw = (task / "children").read_text().split()
        out.update(int(x) for x in raw)
    return out


def wait_alive(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pkt = AuthPacket(code=StatusServer, secret=SECRET.encode(), dict=dictionary())
        pkt.add_message_authenticator()
        if exchange(port, pkt.RequestPacket(), timeout=0.3) is not None:
            return
    raise AssertionError("server did not come up")


def test_workers_serve_restart_and_stop_cleanly(redis_client: Any, redis_url: str) -> None:
    register(redis_client)
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    auth, acct = free_udp_port(), free_udp_port()
    proc = start(redis_url, auth, acct)
    try:
        wait_alive(auth)
        kids = children(proc.pid)
        assert len(kids) == 2
        for _ in range(5):   # different source ports → hashed over both workers
            req = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
            raw = exchange(auth, req.RequestPacket(), timeout=2)
            assert raw is not None and decode_reply(req, raw).code == AccessAccept

        # A second server on the same ports is refused (no silent SO_REUSEPORT sharing).
        second = start(redis_url, auth, acct)
        out, _ = second.communicate(timeout=30)
        assert second.returncode == 1 and "already in use" in out

        # A killed worker is replaced.
        victim = sorted(kids)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = children(proc.pid)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("worker was not restarted")
        wait_alive(auth)
        kids = children(proc.pid)

        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out
        assert "RADIUS stopped" in out
        for pid in kids:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
