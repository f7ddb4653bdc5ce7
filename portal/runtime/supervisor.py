"""The process supervisor behind ``citywifi up``: start children, know when each is ready,
restart the ones that die, give up on one that cannot start, stop them all in order.

Readiness is reported by the child itself (:mod:`portal.runtime.readiness`, systemd's notify protocol:
each child gets its own ``$NOTIFY_SOCKET``), because only the child knows when it serves — a
gunicorn master listens long before its workers have imported the application, and a RADIUS
master forks workers that may crash on their first line.

* A child that exits before it was ready has *failed to start*; after ``max_failed_starts``
  such failures in a row, or when it stays unready for ``ready_timeout`` seconds, the
  supervisor gives up (:attr:`Supervisor.failure` names the child, the reason and the last
  lines of its log) and the caller stops everything and exits non-zero.
* A child that dies after it was ready is restarted with back-off (1 s doubling to 30 s,
  forgotten once it stayed up for 30 s) and must become ready again.
* Children run in their own session: a terminal's Ctrl-C reaches only the supervisor, which
  then stops them one after another (:meth:`Supervisor.stop_all`).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.runtime.readiness import NOTIFY_ENV, ReadinessSocket
from portal.runtime.texts import FAILED_TO_START

__all__ = ["Child", "Failure", "Supervisor", "log_tail"]

log = logging.getLogger("citywifi.up")

TAIL_LINES = 15
STABLE_AFTER = 30.0        # seconds up after which earlier crashes are forgotten (back-off reset)


def log_tail(path: Path | None, lines: int = TAIL_LINES, max_bytes: int = 64 * 1024) -> str:
    """The last ``lines`` lines of a log file ("" if there is none)."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff: float = 1.0
    next_start: float = 0.0
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    stop_timeout: float = 0.0       # seconds after SIGTERM before SIGKILL; 0 = the supervisor's
    ready: bool = False             # reported READY=1 since its last start
    ready_at: float = 0.0
    failed_starts: int = 0          # exits before readiness, in a row
    notify: ReadinessSocket | None = None

    def start(self) -> None:
        assert self.log_path is not None
        env = self.env
        if self.notify is not None:
            self.notify.drain()       # a late READY=1 of the previous incarnation is not ours
            env = {**self.env, NOTIFY_ENV: str(self.notify.path)}
        out = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
        self.process = subprocess.Popen(
            self.argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,   # Ctrl-C reaches us only; we stop children in order
        )
        out.close()
        self.ready = False
        self.started_at = time.monotonic()
        log.info("started %s (pid %s), log %s", self.name, self.process.pid, self.log_path)


@dataclass(frozen=True)
class Failure:
    """Why the supervisor gave up: which child, what happened, the end of its log."""

    name: str
    reason: str
    log_path: Path | None
    tail: str

    def describe(self) -> str:
        lines = [FAILED_TO_START.format(name=self.name, reason=self.reason)]
        if self.log_path is not None:
            lines.append(f"last lines of {self.log_path}:")
            lines.extend("    " + line for line in (self.tail or "(empty)").splitlines())
        return "\n".join(lines)


class Supervisor:
    """Keeps a set of child processes alive until told to stop (or until one cannot start)."""

    def __init__(self, children: list[Child], *, ready_timeout: float = 120.0,
                 max_failed_starts: int = 3) -> None:
        self.children = children
        self.stopping = threading.Event()
        self.ready_timeout = ready_timeout
        self.max_failed_starts = max_failed_starts
        self.failure: Failure | None = None
        # Readiness sockets live in a private directory (0700) with a short path: a unix socket
        # path must fit in 108 bytes, and nobody else may send READY=1 on a child's behalf.
        self._runtime_dir = Path(tempfile.mkdtemp(prefix="citywifi-up-"))
        for n, child in enumerate(children):
            if child.notify is None:
                child.notify = ReadinessSocket(self._runtime_dir / f"{n}.sock")

    def start_all(self) -> None:
        for child in self.children:
            child.start()

    def all_ready(self) -> bool:
        return all(c.ready for c in self.children)

    def watch(self, poll: float = 0.2, on_all_ready: Callable[[], None] | None = None) -> None:
        """Supervise until :attr:`stopping` is set; ``on_all_ready`` runs once, the first time
        every child has reported ready. Sets :attr:`failure` (and ``stopping``) on giving up."""
        announced = False
        while not self.stopping.wait(poll):
            now = time.monotonic()
            for child in self.children:
                self._check(child, now)
                if self.failure is not None:
                    self.stopping.set()
                    return
            if not announced and self.all_ready():
                announced = True
                if on_all_ready is not None:
                    on_all_ready()

    def _check(self, child: Child, now: float) -> None:
        proc = child.process
        if proc is None:
            if now >= child.next_start:
                child.restarts += 1
                child.start()
            return
        if child.notify is not None and child.notify.poll() and not child.ready:
            child.ready, child.ready_at, child.failed_starts = True, now, 0
            log.info("%s is ready (%.1f s after start)", child.name, now - child.started_at)
        code = proc.poll()
        if code is None:
            if child.ready and now - child.ready_at > STABLE_AFTER:
                child.backoff = 1.0    # it stayed up: forget earlier crashes
            elif not child.ready and now - child.started_at > self.ready_timeout:
                self._give_up(child, f"not ready {self.ready_timeout:.0f} s after start")
            return
        tail = log_tail(child.log_path)
        child.process = None
        if child.ready:
            log.error("%s exited with status %s; restarting in %.0f s. Last lines of %s:\n%s",
                      child.name, code, child.backoff, child.log_path, _indent(tail))
        else:
            child.failed_starts += 1
            if child.failed_starts >= self.max_failed_starts:
                self._give_up(child, f"exited with status {code} before it was ready, "
                                     f"{child.failed_starts} times in a row")
                return
            log.error("%s failed to start (exit status %s); trying again in %.0f s. Last lines of %s:\n%s",
                      child.name, code, child.backoff, child.log_path, _indent(tail))
        child.ready = False
        child.next_start = now + child.backoff
        child.backoff = min(child.backoff * 2, 30.0)

    def _give_up(self, child: Child, reason: str) -> None:
        self.failure = Failure(child.name, reason, child.log_path, log_tail(child.log_path))
        log.error("giving up: %s", self.failure.describe())

    def stop_all(self, timeout: float = 15.0) -> None:
        """Stop the children one after another, each with SIGTERM (its graceful stop) and
        SIGKILL after its ``stop_timeout`` (else ``timeout``) seconds. The front door goes first
        — ``web``, whose in-flight logins still need the AC, RADIUS, the listener and Redis —
        then the others in reverse start order, so nothing a login depends on stops under it."""
        self.stopping.set()
        order = sorted(reversed(self.children), key=lambda c: c.name != "web")
        for child in order:
            proc = child.process
            if proc is None or proc.poll() is not None:
                continue
            log.info("stopping %s (pid %s)", child.name, proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(child.stop_timeout or timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                proc.kill()
                proc.wait()
            log.info("%s stopped (status %s)", child.name, proc.returncode)
        for child in self.children:
            if child.notify is not None:
                child.notify.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(self._runtime_dir)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in (text or "(empty)").splitlines())
