"""The CLI finds the running ``citywifi up`` with default settings (relative ``./citywifi-data``),
refuses bad ``create-user`` input with a clear message, and — with no instance running — says so
without starting a Redis of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_udp_port

ROOT = Path(__file__).resolve().parents[3]


def _env() -> dict[str, str]:
    """Default settings: no CITYWIFI_* at all (data_dir is ./citywifi-data of the cwd)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _cli(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # A new session: no controlling terminal, as under cron, ssh without -t or CI.
    return subprocess.run([sys.executable, "-m", "portal.cli", *args], env=_env(), cwd=cwd,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, start_new_session=True)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running `citywifi up --demo` (only the SMS worker: the demo venue is seeded anyway),
    started with default settings in a fresh directory."""
    cwd = tmp_path_factory.mktemp("up")
    env = _env()
    env["CITYWIFI_LISTENER_PORT"] = str(free_udp_port())   # not read by these services; belt and braces
    proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "up", "--demo", "--only", "sms-worker"],
                            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while "citywifi is running" not in proc.stdout.readline():
            assert time.monotonic() < deadline and proc.poll() is None, "up did not start"
        yield cwd
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_admin_reaches_the_demo_from_the_directory_up_was_started_in(demo_dir: Path) -> None:
    listed = _cli(demo_dir, "admin", "list-users")
    assert listed.returncode == 0, listed.stderr
    assert [u["username"] for u in json.loads(listed.stdout)] == ["admin"]
    made = _cli(demo_dir, "admin", "create-user", "mall-op", "--role", "venue", "--venue", "demo",
                "--password-stdin", stdin="Correct-horse-battery-9\n")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["venues"] == ["demo"]
    status = _cli(demo_dir, "archive", "status")
    assert status.returncode == 0, status.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "venue"], "needs at least one --venue"),
    (["--role", "venue", "--venue", "no-such-venue"], "unknown venue 'no-such-venue'"),
    (["--role", "noc", "--venue", "demo"], "--venue is only for --role venue"),
])
def test_create_user_refuses_missing_or_unknown_venues(demo_dir: Path, args: list[str], message: str) -> None:
    proc = _cli(demo_dir, "admin", "create-user", "someone", *args, "--password-stdin",
                stdin="Correct-horse-battery-9\n")
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr
    users = json.loads(_cli(demo_dir, "admin", "list-users").stdout)
    assert "someone" not in [u["username"] for u in users]


def test_create_user_without_a_terminal_asks_for_password_stdin(demo_dir: Path) -> None:
    proc = _cli(demo_dir, "admin", "create-user", "nostdin", "--role", "admin")
    assert proc.returncode == 1
    assert "--password-stdin" in proc.stderr and "no terminal" in proc.stderr
    assert "Traceback" not in proc.stderr and "EOFError" not in proc.stderr
    empty = _cli(demo_dir, "admin", "create-user", "nostdin", "--role", "admin", "--password-stdin", stdin="")
    assert empty.returncode == 1 and "no password on standard input" in empty.stderr


def test_commands_say_no_instance_runs_and_start_no_redis(tmp_path: Path) -> None:
    # A directory where `up` ran once and stopped: a stale data dir, no server.
    redis_dir = tmp_path / "citywifi-data" / "redis"
    redis_dir.mkdir(parents=True)
    (redis_dir / "redis.sock").touch()            # a stale socket file left by a killed run
    for args in (["admin", "list-users"], ["admin", "create-token", "x"], ["archive", "status"],
                 ["sms-worker"], ["ac-listener", "--port", str(free_udp_port())], ["web"],
                 ["radius", "--auth-port", "0", "--acct-port", "0"]):
        proc = _cli(tmp_path, *args)
        assert proc.returncode in (1, 2), (args, proc.stdout, proc.stderr)
        assert "no citywifi instance is running" in proc.stderr, (args, proc.stderr)
        assert "没有正在运行的 citywifi 实例" in proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
    # Nothing was started: no Redis wrote a log or an AOF there.
    assert sorted(p.name for p in redis_dir.iterdir()) == ["redis.sock"]


def _into_closed_head(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with stdout on a real pipe to ``head -3`` that has already read its three
    lines and exited, as in ``citywifi admin list-users | head -3`` once head is done. Waiting
    for head first makes the closed pipe certain rather than a race with the writer."""
    read_end, write_end = os.pipe()
    head = subprocess.Popen(["head", "-3"], stdin=read_end, stdout=subprocess.PIPE)
    os.close(read_end)
    try:
        os.write(write_end, b"one\ntwo\nthree\n")
        out, _ = head.communicate(timeout=30)
        assert out == b"one\ntwo\nthree\n" and head.returncode == 0
        return subprocess.run([sys.executable, "-m", "portal.cli", *args], env=_env(), cwd=cwd,
                              stdin=subprocess.DEVNULL, stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60, start_new_session=True)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [
    ("admin", "list-users"),
    ("config", "example"),
    ("portal-packet", "decode", "0101"),   # the error report goes to stdout too
    ("archive", "status"),
])
def test_a_reader_that_leaves_early_ends_the_command_quietly(demo_dir: Path, args: tuple[str, ...]) -> None:
    proc = _into_closed_head(demo_dir, *args)
    assert proc.stderr == ""                      # no BrokenPipeError traceback, no "Exception ignored"
    assert proc.returncode == 141                 # what a shell reports for `yes | head` (128 + SIGPIPE)
