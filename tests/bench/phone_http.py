"""A cheap HTTP/1.1 client for the benchmarks' simulated phones.

The load generator shares the cores with the servers it measures, so every millisecond it
spends is one the servers do not get. A phone's browser keeps one connection open through its
journey (landing, code, login: HTTP/1.1 keep-alive, RFC 9112 §9.3), so :class:`PhoneConnection`
does the same: requests are written as pre-built bytes on one socket, and a response is read by
its ``Content-Length`` (or chunked framing) with only the status line and the framing headers
looked at. No ``http.client`` / ``email`` header parsing, no connection set-up per request.

The server may close a kept-alive connection whenever it likes (gunicorn's ``keepalive``
seconds, a worker restart): a request that finds the connection closed before any byte of the
answer is sent again once on a new connection, as browsers do for idempotent and
not-yet-answered requests.
"""

from __future__ import annotations

import socket
from urllib.parse import quote

__all__ = ["PhoneConnection", "form_body", "get_request", "post_request"]


# The headers http.client sent before (the benchmark's figures stay comparable): Host with the
# port, Accept-Encoding identity; no cookies and no Accept-Language, as in every earlier run.
def get_request(path: str, host: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: identity\r\n\r\n".encode()


def form_body(fields: dict[str, str]) -> bytes:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items()).encode()


def post_request(path: str, body: bytes, host: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: identity\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


class _Closed(Exception):
    """The server closed the connection before answering."""


class PhoneConnection:
    """One phone's keep-alive connection: ``request(raw) -> (status, head, body)``."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf = b""

    def request(self, raw: bytes) -> tuple[int, bytes, bytes]:
        """Status, header block (bytes, for the rare caller that wants a header) and body."""
        fresh = self.sock is None
        try:
            return self._exchange(raw)
        except _Closed:
            if fresh:
                raise ConnectionError("server closed a new connection without answering") from None
            self.close()                # the kept-alive connection had timed out: once more
            return self._exchange(raw)

    def _exchange(self, raw: bytes) -> tuple[int, bytes, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""
        try:
            self.sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            raise _Closed() from None
        end = self._fill_until(b"\r\n\r\n", answered=False)
        head, self.buf = self.buf[:end], self.buf[end + 4:]
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = lower.find(b"\r\n", at + 17)
            body = self._take(int(lower[at + 17:stop if stop > 0 else len(lower)]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            body = self._chunked()
        else:                                   # no framing: the body runs to the close
            body = self._to_close()
        if b"\r\nconnection: close" in lower:
            self.close()
        return status, head, body

    def _recv(self, answered: bool) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            if not answered and not self.buf:
                raise _Closed()
            raise ConnectionError("connection closed in the middle of an answer")
        self.buf += data

    def _fill_until(self, marker: bytes, answered: bool = True) -> int:
        start = 0
        while (at := self.buf.find(marker, start)) < 0:
            start = max(0, len(self.buf) - len(marker))
            self._recv(answered)
        return at

    def _take(self, length: int) -> bytes:
        while len(self.buf) < length:
            self._recv(True)
        body, self.buf = self.buf[:length], self.buf[length:]
        return body

    def _chunked(self) -> bytes:
        parts = []
        while True:
            end = self._fill_until(b"\r\n")
            size = int(self.buf[:end].split(b";")[0], 16)
            self.buf = self.buf[end + 2:]
            if size == 0:
                self._fill_until(b"\r\n")       # no trailers expected: the empty line
                self.buf = self.buf[self.buf.find(b"\r\n") + 2:]
                return b"".join(parts)
            parts.append(self._take(size))
            self._take(2)

    def _to_close(self) -> bytes:
        assert self.sock is not None
        parts = [self.buf]
        while data := self.sock.recv(65536):
            parts.append(data)
        self.close()
        return b"".join(parts)
