"""Worker processes sharing the RADIUS ports with SO_REUSEPORT.

The parent checks the ports are really free (a stale server holding them with SO_REUSEPORT
would otherwise silently share the traffic, docs/protocols/radius.md §1.5), forks N children, restarts
any that die, and on SIGTERM/SIGINT stops them all (SIGTERM, then SIGKILL after a grace period).
Each child binds its own sockets and builds its own Redis client after the fork. Which child
gets a datagram is decided by a classic BPF program attached to the SO_REUSEPORT group
(``spread_by_authenticator``): the first octet of the Request Authenticator modulo N. The
kernel's default, a hash of the 4-tuple, would send all of one AC's traffic (one source port) to
one child and leave the other cores idle; the authenticator is random per request and identical
in its retransmissions (RFC 5080 §2.2.2), so the duplicate cache can still live in-process.

Work that is not answering requests — closing silent sessions, repairing the session indexes
(radius/reaper.py) — runs in one more child, the maintenance process (named
``citywifi-maint``), supervised like the workers: a repair that reads every session then never
competes with a worker's requests for its interpreter.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from portal.runtime.readiness import notify_ready
from radius.errors import RadiusError
from radius.server import ACCT, AUTH, RadiusServer, bind_udp

__all__ = [
    "Listen",
    "PortInUse",
    "check_ports_free",
    "name_process",
    "run_in_process",
    "run_workers",
    "spread_by_authenticator",
]

log = logging.getLogger(__name__)

STOP_GRACE = 5.0          # seconds children get to finish before SIGKILL
STATS_INTERVAL = 60.0     # seconds between per-worker counter logs
TICK_INTERVAL = 1.0       # seconds between RadiusServer.tick() calls


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


SO_ATTACH_REUSEPORT_CBPF = getattr(socket, "SO_ATTACH_REUSEPORT_CBPF", 51)   # Linux ≥ 4.5

# Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
_BPF_LD_B_ABS = 0x00 | 0x10 | 0x20     # BPF_LD | BPF_B | BPF_ABS: A = octet at offset k
_BPF_ALU_MOD_K = 0x04 | 0x90 | 0x00    # BPF_ALU | BPF_MOD | BPF_K: A %= k
_BPF_RET_A = 0x06 | 0x10               # BPF_RET | BPF_A: return A (the socket's index)
_programs: list[ctypes.Array[ctypes.c_char]] = []   # the kernel copies them; keep ours alive anyway


def spread_by_authenticator(sock: socket.socket, workers: int) -> bool:
    """Attach the reuseport BPF program that picks socket ``authenticator[0] % workers`` of the
    group (the program sees the UDP payload; octet 4 is the first of the Request Authenticator,
    RFC 2865 §3). An index beyond the group's current size (a worker restarting) makes the
    kernel fall back to its 4-tuple hash. Returns False, logging why, if the kernel refuses."""
    if workers < 2:
        return False
    program = b"".join(struct.pack("HBBI", code, 0, 0, k) for code, k in (
        (_BPF_LD_B_ABS, 4), (_BPF_ALU_MOD_K, workers), (_BPF_RET_A, 0)))
    buf = ctypes.create_string_buffer(program, len(program))
    _programs.append(buf)
    fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buf))   # struct sock_fprog
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
    except OSError as exc:
        log.warning("cannot spread RADIUS requests over workers by authenticator (%s); "
                    "the kernel's 4-tuple hash applies", exc)
        return False
    return True


def _serve(make_server: Callable[[], RadiusServer], listen: Listen, stop: Callable[[], bool],
           workers: int = 1) -> None:
    server = make_server()
    for port, kind in ((listen.auth_port, AUTH), (listen.acct_port, ACCT)):
        sock = bind_udp(listen.host, port)
        spread_by_authenticator(sock, workers)
        server.add_socket(sock, kind)
    log.info("RADIUS worker %d serving auth %s:%d acct %s:%d", os.getpid(), listen.host,
             listen.auth_port, listen.host, listen.acct_port)
    notify_ready(f"RADIUS worker {os.getpid()} serving")    # `citywifi up` / systemd: RADIUS is up
    next_stats = time.monotonic() + STATS_INTERVAL
    next_tick = 0.0

    def should_stop() -> bool:
        nonlocal next_stats, next_tick
        now = time.monotonic()
        if now >= next_tick:   # counters → /metrics snapshot and live figures (server.on_tick)
            next_tick = now + TICK_INTERVAL
            server.tick()
        if now >= next_stats:
            next_stats = now + STATS_INTERVAL
            log.info("worker %d counters: %s", os.getpid(), server.metrics.snapshot())
        return stop()

    try:
        server.serve_forever(should_stop)
    finally:
        server.tick()     # the final counts of this worker
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


def _child(make_server: Callable[[], RadiusServer], listen: Listen, workers: int) -> None:
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = 0
    try:
        _serve(make_server, listen, lambda: stopping, workers)
    except BaseException:
        log.exception("RADIUS worker %d crashed", os.getpid())
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


MAINTENANCE_NAME = b"citywifi-maint"


def name_process(name: bytes) -> None:
    """Set this process's name as ``ps`` and ``/proc/<pid>/comm`` show it (Linux; best effort)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, ctypes.c_char_p(name[:15]), 0, 0, 0)      # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def _maintenance_child(maintenance: Callable[[threading.Event], None]) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    name_process(MAINTENANCE_NAME)
    code = 0
    try:
        log.info("RADIUS maintenance process %d running", os.getpid())
        maintenance(stop)
    except BaseException:
        log.exception("RADIUS maintenance process %d crashed", os.getpid())
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def run_workers(make_server: Callable[[], RadiusServer], listen: Listen, workers: int,
                maintenance: Callable[[threading.Event], None] | None = None) -> int:
    """Fork ``workers`` children serving ``listen`` and, given ``maintenance`` (run until the
    event is set), the maintenance child; supervise until SIGTERM/SIGINT."""
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
    maintainer: list[int] = []        # pid of the maintenance child, while it runs

    def spawn(role: str = "worker") -> None:
        pid = os.fork()
        if pid == 0:
            if role == "maintenance":
                assert maintenance is not None
                _maintenance_child(maintenance)        # never returns
            _child(make_server, listen, workers)   # never returns
        children[pid] = time.monotonic()
        if role == "maintenance":
            maintainer[:] = [pid]

    for _ in range(workers):
        spawn()
    if maintenance is not None:
        spawn("maintenance")    # last: the workers are the first children
    log.info("RADIUS serving with %d worker(s): %s", workers,
             sorted(pid for pid in children if pid not in maintainer))
    restart_at: list[tuple[float, str]] = []
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
            role = "maintenance" if pid in maintainer else "worker"
            log.error("RADIUS %s %d exited (status %d); restarting", role, pid, status)
            # Back off if a worker dies right after start (bad config, Redis gone at boot …).
            delay = 1.0 if time.monotonic() - started < 5.0 else 0.0
            restart_at.append((time.monotonic() + delay, role))
        due = [entry for entry in restart_at if entry[0] <= time.monotonic()]
        for entry in due:
            restart_at.remove(entry)
            if not stopping:
                spawn(entry[1])
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
