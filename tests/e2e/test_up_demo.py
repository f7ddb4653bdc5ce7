"""The README's run command, as real processes: `citywifi up --demo` starts embedded Redis,
RADIUS, the listener, the SMS worker, the web server (gunicorn) and the AC simulator; a phone
opens the printed URL, gets its code from the file outbox (via the SMS worker), logs in, and is
online on the simulator. "citywifi is running" is printed only once every service is ready, so
the printed URL answers at once. Ctrl-C (SIGINT) then stops everything and exits 0."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis
import requests

from portal.aaa.sessions import SessionRegistry
from portal.legal.reallog import RealNameLog
from tests.conftest import free_tcp_port, free_udp_port
from tests.e2e.stack import wait_for


def _pump(proc: subprocess.Popen[str], seen: list[str]) -> threading.Thread:
    """Collect the child's output lines in the background (so its pipe never fills)."""
    def run() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_printed(
    proc: subprocess.Popen[str], pattern: str, timeout: float, seen: list[str]
) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, "".join(seen))
        if m:
            return m
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not printed; output so far:\n{''.join(seen)}")


def _code_from_outbox(outbox: Path, phone: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.json")) if outbox.is_dir() else []:
            msg = json.loads(path.read_text(encoding="utf-8"))
            if msg.get("phone") == phone:
                m = re.search(r"(\d{6})", msg.get("text", ""))
                if m:
                    return m.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no SMS for {phone} in {outbox}")


def test_up_demo_runs_the_whole_system_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "data"
    web_port = free_tcp_port()
    auth, acct, listener, sim, coa = (free_udp_port() for _ in range(5))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.update({
        "CITYWIFI_DATA_DIR": str(data),
        "CITYWIFI_WEB_PORT": str(web_port), "CITYWIFI_WEB_HOST": "127.0.0.1", "CITYWIFI_WEB_WORKERS": "1",
        "CITYWIFI_RADIUS_HOST": "127.0.0.1", "CITYWIFI_RADIUS_WORKERS": "1",
        "CITYWIFI_RADIUS_AUTH_PORT": str(auth), "CITYWIFI_RADIUS_ACCT_PORT": str(acct),
        "CITYWIFI_LISTENER_HOST": "127.0.0.1", "CITYWIFI_LISTENER_PORT": str(listener),
        "CITYWIFI_AC_SIM_PORT": str(sim), "CITYWIFI_AC_SIM_COA_PORT": str(coa),
        "CITYWIFI_AC_SIM_RADIUS_AUTH_PORT": str(auth), "CITYWIFI_AC_SIM_RADIUS_ACCT_PORT": str(acct),
        "CITYWIFI_AC_SIM_PORTAL_PORT": str(listener),
    })
    proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "up", "--demo"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    pump = _pump(proc, seen)
    try:
        _wait_printed(proc, r"citywifi is running", 120, seen)
        # The banner's portal line: a URL that works, on the configured (non-default) port.
        url = _wait_printed(proc, r"portal   : (http://127\.0\.0\.1:\d+/portal\?\S+)", 5, seen).group(1)
        assert url.startswith(f"http://127.0.0.1:{web_port}/portal?")
        session = requests.Session()
        # "running" means every service reported ready: the phone URL answers at once.
        page = session.get(url, timeout=10)
        assert page.status_code == 200, page.text[:500]
        # The simulator's printed phone URLs use the configured web port too.
        sim_log = (data / "logs" / "ac-sim.log").read_text()
        assert f"redirect: http://127.0.0.1:{web_port}/portal?" in sim_log, sim_log
        assert ":8080/" not in sim_log
        ctx = re.search(r'name="c" value="([^"]*)"', page.text).group(1)
        phone = "18900000001"
        sent = session.post(f"http://127.0.0.1:{web_port}/portal/code", data={"c": ctx, "phone": phone},
                            timeout=10)
        assert sent.status_code == 200, sent.text[:500]
        code = _code_from_outbox(data / "sms-outbox", phone)
        done = session.post(f"http://127.0.0.1:{web_port}/portal/login",
                            data={"c": ctx, "phone": phone, "code": code}, timeout=30)
        assert done.status_code == 200 and 'id="success"' in done.text, done.text[:1000]
        # The demo outbox page shows the SMS too.
        outbox = session.get(f"http://127.0.0.1:{web_port}/demo/outbox", timeout=5).text
        assert code in outbox
        # The simulator logged the phone in through our RADIUS server, whose accounting opened
        # the session (read from the embedded Redis the supervisor started).
        state = redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock"))
        sessions = SessionRegistry(state)
        assert wait_for(lambda: len(sessions.by_phone(phone)) == 1, 15), "".join(seen)
        records = RealNameLog(state).recent(10)             # the real-name login record (the law)
        assert [r.phone for r in records] == [phone], records
        state.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        pump.join(5)
    assert proc.returncode == 0, "".join(seen)
    for name in ("radius", "web", "ac-listener", "sms-worker", "ac-sim"):
        text = (data / "logs" / f"{name}.log").read_text(errors="replace")
        assert "Traceback" not in text, f"{name}:\n{text[-3000:]}"
