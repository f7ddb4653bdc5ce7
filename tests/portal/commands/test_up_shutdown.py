"""`citywifi up` stops its children in order: web first (its in-flight logins still need the
rest), then the others in reverse start order, each only after the previous one has exited, and
Redis last — also when a terminal's Ctrl-C sends SIGINT to the whole process group."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from portal.commands.up import Child, Supervisor
from tests.conftest import free_udp_port

# A child that records when SIGTERM arrived and when it finished its (slow) graceful stop.
CHILD = r"""
import signal, sys, time
path = sys.argv[1]
def on_term(signum, frame):
    with open(path, "a") as fh:
        fh.write(f"term {time.time()}\n")
    time.sleep(float(sys.argv[2]))
    with open(path, "a") as fh:
        fh.write(f"exit {time.time()}\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(path, "a") as fh:
    fh.write("ready\n")
while True:
    time.sleep(0.05)
"""


def _times(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        if " " in line:
            what, at = line.split()
            out[what] = float(at)
    return out


def test_stop_all_is_ordered_and_waits_for_each_child(tmp_path: Path) -> None:
    names = ["radius", "ac-listener", "sms-worker", "web", "ac-sim"]
    children = []
    for name in names:
        record = tmp_path / f"{name}.txt"
        linger = "0.6" if name == "web" else "0.2"     # web finishes an in-flight login
        children.append(Child(name, [sys.executable, "-c", CHILD, str(record), linger], {},
                              log_path=tmp_path / f"{name}.log"))
    sup = Supervisor(children)
    try:
        sup.start_all()
        deadline = time.monotonic() + 20
        while not all((tmp_path / f"{n}.txt").exists() for n in names):
            assert time.monotonic() < deadline, "children did not start"
            time.sleep(0.05)
        time.sleep(0.2)
        sup.stop_all(timeout=10)
    finally:
        for c in children:
            if c.process is not None and c.process.poll() is None:
                c.process.kill()
                c.process.wait()
    times = {n: _times(tmp_path / f"{n}.txt") for n in names}
    expected = ["web", "ac-sim", "sms-worker", "ac-listener", "radius"]
    assert sorted(names, key=lambda n: times[n]["term"]) == expected
    for before, after in itertools.pairwise(expected):
        # The next child is told to stop only once the previous one has finished stopping.
        assert times[before]["exit"] <= times[after]["term"], (before, after)
    assert all(c.process is not None and c.process.returncode == 0 for c in children)


def test_a_child_that_ignores_sigterm_is_killed_after_its_stop_timeout(tmp_path: Path) -> None:
    stubborn = Child("web", [sys.executable, "-c",
                             "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                             "print('ready', flush=True); time.sleep(60)"], {},
                     log_path=tmp_path / "web.log", stop_timeout=0.5)
    sup = Supervisor([stubborn])
    sup.start_all()
    deadline = time.monotonic() + 20
    while "ready" not in (tmp_path / "web.log").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    sup.stop_all(timeout=30)
    assert time.monotonic() - t0 < 5
    assert stubborn.process is not None and stubborn.process.returncode is not None


# --- a terminal's Ctrl-C: SIGINT to the whole foreground process group ---------------------------

def _log_time(line: str) -> float:
    """Time of a citywifi log line (``2026-01-02 10:00:00,123 INFO …``, local time)."""
    return dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _redis_shutdown_time(text: str) -> float:
    """Time of redis-server's "User requested shutdown" line (``… 07 Dec 2026 14:07:23.960 # …``)."""
    m = re.search(r"(\d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2}\.\d{3}) # User requested shutdown", text)
    assert m, text[-2000:]
    return dt.datetime.strptime(m.group(1), "%d %b %Y %H:%M:%S.%f").timestamp()


def test_ctrl_c_to_the_process_group_stops_services_in_order_and_redis_last(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update({"PYTHONPATH": str(Path(__file__).resolve().parents[3]), "CITYWIFI_DATA_DIR": str(data),
                "CITYWIFI_LISTENER_HOST": "127.0.0.1", "CITYWIFI_LISTENER_PORT": str(free_udp_port())})
    # Its own process group, led by `up`: what a shell makes of a foreground job.
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "up", "--only", "sms-worker", "--only", "ac-listener",
         "--only", "archive"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while "citywifi is running" not in proc.stdout.readline():
            assert time.monotonic() < deadline and proc.poll() is None, "up did not get running"
        os.killpg(proc.pid, signal.SIGINT)          # the terminal's Ctrl-C
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    # Only `up` took the terminal's signal; every child was stopped by it, one after another.
    redis_log = (data / "redis" / "redis.log").read_text()
    assert "Received SIGTERM" in redis_log and "Received SIGINT" not in redis_log, redis_log[-1500:]
    worker_log = (data / "logs" / "sms-worker.log").read_text()
    assert "signal 15" in worker_log and "signal 2:" not in worker_log, worker_log
    steps = ["stopping archive", "archive stopped", "stopping ac-listener", "ac-listener stopped",
             "stopping sms-worker", "sms-worker stopped", "stopping the embedded Redis"]
    positions = [err.index(step) for step in steps]
    assert positions == sorted(positions), err
    # Redis outlived the services' final flushes.
    redis_down = _redis_shutdown_time(redis_log)
    for name, last_words in (("sms-worker", "sms-worker stopped after"),
                             ("ac-listener", "ac-listener stopped")):
        line = next(ln for ln in (data / "logs" / f"{name}.log").read_text().splitlines() if last_words in ln)
        assert _log_time(line) <= redis_down, (name, line, redis_down)
