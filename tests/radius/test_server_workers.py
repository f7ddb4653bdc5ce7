"""`citywifi radius --workers 2` as a real process tree: serves, refuses a busy port, restarts a
killed worker, and stops cleanly on SIGTERM; its maintenance process (not the workers) closes
silent sessions and repairs the session indexes, and is restarted when killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pyrad.packet import AccessAccept, AuthPacket, StatusServer

from portal.aaa.credentials import CredentialStore
from portal.aaa.session_index import index_entries
from portal.aaa.sessions import OnlineSession, SessionRegistry
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


def start(redis_url: str, auth: int, acct: int, workers: int = 2,
          **settings: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update(CITYWIFI_REDIS_URL=redis_url, PYTHONPATH=str(ROOT), **settings)
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


def is_maintenance(pid: int) -> bool:
    """The RADIUS maintenance child names itself (radius/workers.py)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "citywifi-maint"
    except OSError:
        return False


def workers_of(pid: int) -> set[int]:
    """The serving workers among the children of a `citywifi radius` parent."""
    return {kid for kid in children(pid) if not is_maintenance(kid)}


def maintenance_of(pid: int) -> set[int]:
    return {kid for kid in children(pid) if is_maintenance(kid)}


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
        kids = workers_of(proc.pid)
        assert len(kids) == 2 and len(maintenance_of(proc.pid)) == 1
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
            now = workers_of(proc.pid)
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


def test_maintenance_runs_in_its_own_process_not_in_the_workers(redis_client: Any,
                                                                redis_url: str) -> None:
    """Closing silent sessions and repairing the session indexes happen in the maintenance
    child: while it is stopped (SIGSTOP) nothing is reaped although both workers serve; when it
    runs again the silent session is closed. At its start it repairs an index entry lost before
    (the repair reads every session: never in a worker). Killed, it is replaced."""
    register(redis_client)
    reg = SessionRegistry(redis_client, grace=1)
    now = int(time.time())
    live = OnlineSession("ac1", "LIVE", "13900000001", mac="02:00:00:00:00:01", ip="10.0.0.1",
                         started=now, updated=now, interim=300, ssid="Mall")
    reg.open(live)
    lost_key, lost_field = index_entries(live)[-1]         # the IP entry: lost in a crash
    redis_client.hdel(lost_key, lost_field)
    auth, acct = free_udp_port(), free_udp_port()
    proc = start(redis_url, auth, acct, CITYWIFI_QUOTA_REAPER_INTERVAL="0.2",
                 CITYWIFI_RADIUS_REAPER_GRACE="1")
    try:
        wait_alive(auth)
        deadline = time.monotonic() + 20
        while not redis_client.hexists(lost_key, lost_field):
            assert time.monotonic() < deadline, "the lost index entry was not repaired"
            time.sleep(0.1)
        (maint,) = maintenance_of(proc.pid)
        os.kill(maint, signal.SIGSTOP)
        try:
            reg.open(OnlineSession("ac1", "SILENT", "13900000002", started=now - 1000,
                                   updated=now - 1000, interim=60))
            time.sleep(2.0)                                    # ten reaper intervals
            wait_alive(auth)
            assert reg.get("ac1", "SILENT") is not None, "a worker reaped: not the maintenance child"
        finally:
            os.kill(maint, signal.SIGCONT)
        deadline = time.monotonic() + 20
        while reg.get("ac1", "SILENT") is not None:
            assert time.monotonic() < deadline, "the maintenance process did not reap"
            time.sleep(0.1)
        assert reg.get("ac1", "LIVE") is not None

        os.kill(maint, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while maintenance_of(proc.pid) in (set(), {maint}):
            assert time.monotonic() < deadline, "the maintenance process was not restarted"
            time.sleep(0.1)
        assert len(workers_of(proc.pid)) == 2
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out
        assert "RADIUS maintenance" in out and "exited" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
