"""The ``citywifi up`` supervisor: real child processes, restarted when they die, stopped in order."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from portal.commands.up import Child, Supervisor


def _child(tmp_path: Path, name: str, code: str) -> Child:
    return Child(name, [sys.executable, "-c", code], dict(os.environ), log_path=tmp_path / f"{name}.log")


def test_crashed_child_is_restarted_and_all_stop(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    crasher = _child(tmp_path, "crasher",
                     f"open({str(marker)!r}, 'a').write('x'); import sys; sys.exit(3)")
    sleeper = _child(tmp_path, "sleeper", "import time; time.sleep(60)")
    sup = Supervisor([crasher, sleeper])
    sup.start_all()
    import threading
    watcher = threading.Thread(target=sup.watch, kwargs={"poll": 0.05})
    watcher.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(marker.read_text() if marker.exists() else "") < 2:
        time.sleep(0.05)
    sup.stopping.set()
    watcher.join()
    sup.stop_all(timeout=5)
    assert len(marker.read_text()) >= 2, "the crashed child was not restarted"
    assert crasher.restarts >= 1
    assert sleeper.process is not None and sleeper.process.poll() is not None   # stopped


def test_up_starts_embedded_redis_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("CITYWIFI_REDIS_URL", None)
    env["CITYWIFI_DATA_DIR"] = str(tmp_path / "data")
    # No services: only the embedded Redis and the supervisor itself.
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "up", "--only", "portal-packet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    sock = tmp_path / "data" / "redis" / "redis.sock"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not sock.exists():
        time.sleep(0.05)
    assert sock.exists(), "embedded Redis did not start"
    client = redis.Redis(unix_socket_path=str(sock))
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out.decode()
    assert b"citywifi is running" in out
    assert not sock.exists() or _refused(client)


def _refused(client: redis.Redis) -> bool:
    try:
        client.ping()
    except redis.RedisError:
        return True
    return False
