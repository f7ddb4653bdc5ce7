"""The ``citywifi up`` supervisor: real child processes that report readiness (systemd's notify
protocol), are restarted when they die after being ready, and make ``up`` give up — naming the
service and the end of its log, exit status 1 — when they cannot start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from portal.commands.up import Child, Supervisor
from tests.conftest import free_tcp_port, free_udp_port

ROOT = Path(__file__).resolve().parents[3]
READY = "from portal.runtime.readiness import notify_ready; notify_ready(); "


def _child(tmp_path: Path, name: str, code: str) -> Child:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return Child(name, [sys.executable, "-c", code], env, log_path=tmp_path / f"{name}.log")


def _watch(sup: Supervisor, **kwargs: object) -> threading.Thread:
    watcher = threading.Thread(target=sup.watch, kwargs={"poll": 0.05, **kwargs})
    watcher.start()
    return watcher


def _up_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env["PYTHONPATH"] = str(ROOT)
    env["CITYWIFI_DATA_DIR"] = str(tmp_path / "data")
    env["CITYWIFI_LISTENER_HOST"] = "127.0.0.1"
    env.update(extra)
    return env


def test_a_ready_child_that_dies_is_restarted_and_all_stop(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    crasher = _child(tmp_path, "crasher", READY + f"open({str(marker)!r}, 'a').write('x'); "
                                                   "import sys, time; time.sleep(0.3); sys.exit(3)")
    sleeper = _child(tmp_path, "sleeper", READY + "import time; time.sleep(60)")
    sup = Supervisor([crasher, sleeper])
    sup.start_all()
    watcher = _watch(sup)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(marker.read_text() if marker.exists() else "") < 3:
        time.sleep(0.05)
    sup.stopping.set()
    watcher.join()
    sup.stop_all(timeout=5)
    assert len(marker.read_text()) >= 3, "the crashed child was not restarted"
    assert crasher.restarts >= 2
    assert sup.failure is None          # it served each time: a crash, not a failed start
    assert sleeper.process is not None and sleeper.process.poll() is not None   # stopped


def test_running_is_announced_only_when_every_child_reported_ready(tmp_path: Path) -> None:
    quick = _child(tmp_path, "quick", READY + "import time; time.sleep(60)")
    slow_mark = tmp_path / "slow-ready"
    slow = _child(tmp_path, "slow", "import time; time.sleep(1.5); "
                                    f"open({str(slow_mark)!r}, 'w').write(repr(time.time())); " + READY
                                    + "time.sleep(60)")
    announced: list[float] = []
    sup = Supervisor([quick, slow])
    sup.start_all()
    watcher = _watch(sup, on_all_ready=lambda: announced.append(time.time()))
    try:
        deadline = time.monotonic() + 20
        while not announced:
            assert time.monotonic() < deadline, "never announced"
            time.sleep(0.05)
    finally:
        sup.stopping.set()
        watcher.join()
        sup.stop_all(timeout=5)
    assert len(announced) == 1
    assert announced[0] >= float(slow_mark.read_text())


def test_a_child_that_cannot_start_is_named_with_its_log_and_supervision_ends(tmp_path: Path) -> None:
    broken = _child(tmp_path, "broken", "import sys; print('ModuleNotFoundError: no module named x', "
                                        "flush=True); sys.exit(3)")
    fine = _child(tmp_path, "fine", READY + "import time; time.sleep(60)")
    announced: list[bool] = []
    sup = Supervisor([fine, broken], max_failed_starts=3)
    sup.start_all()
    t0 = time.monotonic()
    sup.watch(poll=0.05, on_all_ready=lambda: announced.append(True))   # returns by itself
    sup.stop_all(timeout=5)
    assert time.monotonic() - t0 < 30
    assert not announced
    assert sup.failure is not None and sup.failure.name == "broken"
    assert "3 times" in sup.failure.reason and "status 3" in sup.failure.reason
    text = sup.failure.describe()
    assert "broken" in text and "ModuleNotFoundError: no module named x" in text
    assert fine.process is not None and fine.process.poll() is not None


def test_a_child_that_never_reports_ready_is_given_up_after_the_timeout(tmp_path: Path) -> None:
    mute = _child(tmp_path, "mute", "print('stuck on something', flush=True); import time; time.sleep(60)")
    sup = Supervisor([mute], ready_timeout=1.0)
    sup.start_all()
    sup.watch(poll=0.05)
    sup.stop_all(timeout=5)
    assert sup.failure is not None and sup.failure.name == "mute"
    assert "not ready" in sup.failure.reason and "stuck on something" in sup.failure.tail


def test_up_starts_embedded_redis_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = _up_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "up", "--only", "sms-worker"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    sock = tmp_path / "data" / "redis" / "redis.sock"
    seen = b""
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while b"citywifi is running" not in seen:
        assert time.monotonic() < deadline and proc.poll() is None, seen.decode()
        seen += proc.stdout.readline()
    # "running" comes after the service said so.
    assert b"sms-worker is ready" in seen, seen.decode()
    client = redis.Redis(unix_socket_path=str(sock))
    assert client.ping()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, (seen + out).decode()
    assert not sock.exists() or _refused(client)


def test_up_exits_nonzero_naming_the_service_that_keeps_failing(tmp_path: Path) -> None:
    port = free_udp_port()
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", port))              # the listener cannot bind: it fails every start
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "portal.cli", "up", "--only", "ac-listener", "--only", "sms-worker"],
            env=_up_env(tmp_path, CITYWIFI_LISTENER_PORT=str(port)), cwd=tmp_path,
            capture_output=True, text=True, timeout=120,
        )
    finally:
        taken.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "citywifi is running" not in proc.stdout
    err = proc.stderr
    assert "ac-listener 启动失败 / failed to start" in err, err
    assert "3 times in a row" in err
    assert "cannot listen" in err                 # the end of its log, shown
    assert str(tmp_path / "data" / "logs" / "ac-listener.log") in err
    # Everything was stopped, Redis last.
    assert "sms-worker stopped" in err and "stopping the embedded Redis" in err
    assert err.index("sms-worker stopped") < err.index("stopping the embedded Redis")
    sock = tmp_path / "data" / "redis" / "redis.sock"
    assert not sock.exists() or _refused(redis.Redis(unix_socket_path=str(sock)))


def test_up_refuses_a_second_instance_on_the_same_data_dir(tmp_path: Path) -> None:
    env = _up_env(tmp_path)
    first = subprocess.Popen([sys.executable, "-m", "portal.cli", "up", "--only", "sms-worker"],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    try:
        assert first.stdout is not None
        deadline = time.monotonic() + 60
        while "citywifi is running" not in first.stdout.readline():
            assert time.monotonic() < deadline and first.poll() is None
        second = subprocess.run([sys.executable, "-m", "portal.cli", "up", "--only", "sms-worker"],
                                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert redis.Redis(unix_socket_path=str(tmp_path / "data" / "redis" / "redis.sock")).ping()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0


def _refused(client: redis.Redis) -> bool:
    try:
        client.ping()
    except redis.RedisError:
        return True
    return False


def test_web_reports_ready_from_a_worker_that_loaded_the_app(tmp_path: Path, redis_url: str) -> None:
    """gunicorn's master would say READY=1 as soon as it listens — before any worker imported
    the app; only the worker hook may report (a web failing on an import must not look ready)."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(60)
    env = _up_env(tmp_path, CITYWIFI_REDIS_URL=redis_url, CITYWIFI_WEB_HOST="127.0.0.1",
                  CITYWIFI_WEB_PORT=str(free_tcp_port()), CITYWIFI_WEB_WORKERS="1",
                      CITYWIFI_WEB_PUBLIC_URL="http://127.0.0.1/",
                  NOTIFY_SOCKET=str(path))
    proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "web"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = sock.recv(4096).decode()
        assert "READY=1" in first and "web worker" in first, first
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        sock.close()


def test_up_with_an_unusable_data_dir_says_so(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    proc = subprocess.run([sys.executable, "-m", "portal.cli", "up", "--only", "sms-worker"],
                          env=_up_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "cannot use the data directory" in proc.stderr and "Traceback" not in proc.stderr
