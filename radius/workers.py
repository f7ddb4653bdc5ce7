"""Worker processes sharing the RADIUS ports with SO_REUSEPORT.

The parent checks the ports are really free (a stale server holding them with SO_REUSEPORT
would otherwise silently share the traffic, specs/radius.md §1.5), forks N children, restarts
any that die, and on SIGTERM/SIGINT stops them all (SIGTERM, then SIGKILL after a grace period).
Each child binds its own sockets — the kernel hashes each AC's 4-tuple to one child, which is
what lets the duplicate cache live in-process — and builds its own Redis client after the fork.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from radius.errors import RadiusError
from radius.server import ACCT, AUTH, RadiusServer, bind_udp

__all__ = ["Listen", "PortInUse", "check_ports_free", "run_in_process", "run_workers"]

log = logging.getLogger(__name__)

STOP_GRACE = 5.0          # seconds children get to finish before SIGKILL
STATS_INTERVAL = 60.0     # seconds between per-worker counter logs


class PortInUse(RadiusError):
    code = "port_in_use"


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    auth_port: int
    acct_port: int


def check_ports_free(listen: Listen) -> None:
    """Bind each port once *without* SO_REUSEPORT; fails if anyone (even another reuseport
    server) holds it. Raises PortInUse naming the port."""
    for port in (listen.auth_port, listen.acct_port):
        try:
            probe = bind_udp(listen.host, port, reuseport=False)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"UDP {listen.host}:{port} is already in use (another RADIUS server?)"
                ) from None
            raise
        probe.close()


def _serve(make_server: Callable[[], RadiusServer], listen: Listen, stop: Callable[[], bool]) -> None:
    server = make_server()
    server.add_socket(bind_udp(listen.host, listen.auth_port), AUTH)
    server.add_socket(bind_udp(listen.host, listen.acct_port), ACCT)
    log.info("RADIUS worker %d serving auth %s:%d acct %s:%d", os.getpid(), listen.host,
             listen.auth_port, listen.host, listen.acct_port)
    next_stats = time.monotonic() + STATS_INTERVAL

    def should_stop() -> bool:
        nonlocal next_stats
        if time.monotonic() >= next_stats:
            next_stats = time.monotonic() + STATS_INTERVAL
            log.info("worker %d counters: %s", os.getpid(), server.metrics.snapshot())
        return stop()

    try:
        server.serve_forever(should_stop)
    finally:
        server.close()
        log.info("RADIUS worker %d stopped; counters: %s", os.getpid(), server.metrics.snapshot())


def run_in_process(make_server: Callable[[], RadiusServer], listen: Listen) -> int:
    """Serve in this process until SIGTERM/SIGINT (``--workers 1``)."""
    check_ports_free(listen)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _serve(make_server, listen, lambda: stopping)
    return 0


def _child(make_server: Callable[[], RadiusServer], listen: Listen) -> None:
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = 0
    try:
        _serve(make_server, listen, lambda: stopping)
    except BaseException:
        log.exception("RADIUS worker %d crashed", os.getpid())
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def run_workers(make_server: Callable[[], RadiusServer], listen: Listen, workers: int) -> int:
    """Fork ``workers`` children serving ``listen``; supervise until SIGTERM/SIGINT."""
    if workers < 1:
        raise ValueError("workers must be ≥ 1")
    check_ports_free(listen)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    children: dict[int, float] = {}   # pid → start time

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            _child(make_server, listen)   # never returns
        children[pid] = time.monotonic()

    for _ in range(workers):
        spawn()
    log.info("RADIUS serving with %d worker(s): %s", workers, sorted(children))
    restart_at: list[float] = []
    while not stopping:
        time.sleep(0.2)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            started = children.pop(pid, None)
            if started is None:
                continue
            log.error("RADIUS worker %d exited (status %d); restarting", pid, status)
            # Back off if a worker dies right after start (bad config, Redis gone at boot …).
            delay = 1.0 if time.monotonic() - started < 5.0 else 0.0
            restart_at.append(time.monotonic() + delay)
        due = [t for t in restart_at if t <= time.monotonic()]
        for t in due:
            restart_at.remove(t)
            if not stopping:
                spawn()
    _stop_children(children)
    return 0


def _stop_children(children: dict[int, float]) -> None:
    for pid in list(children):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            children.pop(pid, None)
    deadline = time.monotonic() + STOP_GRACE
    while children and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
            continue
        children.pop(pid, None)
    for pid in list(children):
        log.warning("RADIUS worker %d did not stop in %.0f s; killing it", pid, STOP_GRACE)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    log.info("RADIUS stopped")
