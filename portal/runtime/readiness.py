"""Start-up readiness: a service tells whoever started it that it now serves.

The protocol is systemd's notify protocol (sd_notify(3)): when ``$NOTIFY_SOCKET`` names a unix
datagram socket, the service sends ``READY=1`` to it once it can do its job (sockets bound,
application loaded). ``citywifi up`` gives each child its own socket (:class:`ReadinessSocket`)
and says "running" only when every child has reported; under systemd (``Type=notify`` with
``NotifyAccess=all``) the same call tells systemd. Without ``$NOTIFY_SOCKET`` nothing happens,
so calling :func:`notify_ready` is always safe.

Worker processes (gunicorn workers, RADIUS workers) call it too: the first worker that serves
makes the service ready, and more ``READY=1`` messages are harmless. gunicorn's own master
would send ``READY=1`` as soon as it listens — before any worker has imported the app — so
``citywifi web`` takes ``$NOTIFY_SOCKET`` away from it and hands it to its worker hook.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path

__all__ = ["NOTIFY_ENV", "ReadinessSocket", "notify_ready"]

log = logging.getLogger(__name__)

NOTIFY_ENV = "NOTIFY_SOCKET"
_MAX_MESSAGE = 4096


def notify_ready(status: str = "", target: str | None = None) -> bool:
    """Send ``READY=1`` (and ``STATUS=…``) to ``target`` (default ``$NOTIFY_SOCKET``); True if
    it was sent.

    Never raises: a supervisor that went away must not take the service down with it."""
    if target is None:
        target = os.environ.get(NOTIFY_ENV, "")
    if not target:
        return False
    if target.startswith("@"):          # abstract namespace socket (systemd allows it)
        target = "\0" + target[1:]
    message = "READY=1\n" + (f"STATUS={status}\n" if status else "")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(target)
            sock.send(message.encode())
    except OSError as exc:
        log.debug("readiness not sent to %s: %s", target, exc)
        return False
    return True


class ReadinessSocket:
    """The receiving end of one child's ``$NOTIFY_SOCKET``: a unix datagram socket at ``path``
    (in a directory only we can enter), read without blocking."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.setblocking(False)

    def poll(self) -> bool:
        """True if a ``READY=1`` arrived since the last call (other messages are dropped)."""
        ready = False
        while True:
            try:
                data = self._sock.recv(_MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return ready
            except OSError:
                return ready
            if b"READY=1" in data.split(b"\n"):
                ready = True

    def drain(self) -> None:
        """Forget messages of an earlier incarnation of the child."""
        self.poll()

    def close(self) -> None:
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
