"""A real ``citywifi web`` (gunicorn) process for the attack tests, and raw HTTP from a chosen
loopback source address (127.0.0.2 plays a proxy, 127.0.0.1 a phone reaching gunicorn directly)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def citywifi(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[str]:
    """``python -m portal.cli ARGS`` with only the given CITYWIFI_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    base.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.Popen([sys.executable, "-m", "portal.cli", *args], cwd=cwd or ROOT, env=base,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.stdout.read() if proc.stdout else ""


def exits_with(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int | None, str]:
    """(exit status, output) — status None (and the process stopped) if it kept running."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None, stop(proc)
    return proc.returncode, proc.stdout.read() if proc.stdout else ""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


def request(port: int, method: str, path: str, *, source: str = "127.0.0.1",
            headers: dict[str, str] | None = None, body: str | None = None, host: str = "127.0.0.1",
            timeout: float = 10) -> Reply:
    conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=(source, 0))
    try:
        sent = dict(headers or {})
        if body is not None:
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()},
                     resp.read().decode("utf-8", "replace"))
    finally:
        conn.close()


@contextlib.contextmanager
def running_web(env: dict[str, str], *args: str, port: int) -> Iterator[subprocess.Popen[str]]:
    """``citywifi web`` on 127.0.0.1:``port`` (1 worker), until it answers /healthz."""
    proc = citywifi("web", "--port", str(port), "--workers", "1", "--threads", "8", *args, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError("citywifi web exited: " + (proc.stdout.read() if proc.stdout else ""))
            try:
                if request(port, "GET", "/healthz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("citywifi web did not answer: " + stop(proc))
            time.sleep(0.1)
        yield proc
    finally:
        stop(proc)
