"""Thin, forgiving UDP loop: receive, hand to a handler, keep serving whatever happens.

Used for the portal-protocol port and the RFC 5176 port of the simulated AC. Replies go back
from the same socket to the request's source address (§1.9: the AC answers to the source
address/port of the request).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

__all__ = ["Handler", "UdpServer"]

log = logging.getLogger(__name__)

Handler = Callable[[bytes, tuple[str, int]], None]


class UdpServer:
    def __init__(self, host: str, port: int, handler: Handler, *, name: str) -> None:
        self.host = host
        self.requested_port = port
        self.handler = handler
        self.name = name
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.errors = 0

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError(f"{self.name} is not started")
        return int(self._sock.getsockname()[1])

    def start(self) -> UdpServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Thousands of simulated users answer in bursts: give the kernel room to queue them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((self.host, self.requested_port))
        sock.settimeout(0.1)
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sock.sendto(data, addr)
        except OSError as exc:   # unreachable portal etc.: UDP semantics, the retry logic copes
            log.debug("%s: send to %s failed: %s", self.name, addr, exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            try:
                self.handler(data, addr)
            except Exception:   # log-and-drop: one bad datagram must not stop the AC
                self.errors += 1
                log.exception("%s: handler failed on a datagram from %s", self.name, addr)
