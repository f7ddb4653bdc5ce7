"""A long-lived TCP session to an SMS gateway: login, sliding window, keep-alive, reconnect.

Protocol-neutral: the wire details come from a :class:`WireProtocol` adapter (SMGP, CMPP,
SMPP supply one each). The behaviour follows docs/protocols/sms.md §1.2:

* **window** — at most ``window`` (16) requests outstanding; further senders wait;
* **keep-alive** — when nothing was received for ``heartbeat`` seconds, send an active test;
  ``heartbeat_misses`` unanswered tests in a row drop the link;
* **reconnect** — a supervisor task reconnects with exponential back-off
  (``backoff_min`` doubling up to ``backoff_max``), forever, until ``close()``;
* **never resend a submit** — a request that was written but not answered (timeout, dropped
  link) fails with :class:`GatewayUncertainError`, because the gateway may have taken it and a
  resend could deliver the same SMS twice.

Socket factory, clock and sleep are injectable, so tests drive reconnects and keep-alives
without waiting them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sms_gateway.errors import GatewayTransientError, GatewayUncertainError, SmsError

__all__ = ["ConnectFn", "Session", "TlsOptions", "WireProtocol", "next_sequence", "tls_connector"]

log = logging.getLogger(__name__)

ConnectFn = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


def next_sequence(previous: int) -> int:
    """The sequence id after ``previous``: the sender counts up by one and wraps around
    (docs/protocols/sms.md §1.2); 0 is skipped, and ids stay below 2**31 because some gateways
    read the field as a signed integer."""
    return previous % 0x7FFFFFFF + 1


class WireProtocol(Protocol):
    """What the session needs to know about one protocol's framing and housekeeping PDUs."""

    header_size: int

    def frame_info(self, header: bytes) -> tuple[int, int, int]:
        """(total length, command id, sequence) from a header."""

    def is_response(self, command: int) -> bool: ...

    def login(self, seq: int) -> bytes:
        """The login/bind PDU (may read the wall clock for its timestamp)."""

    def check_login(self, frame: bytes) -> None:
        """Raise GatewayTransientError (with a code) when the login response refuses us."""

    def active_test(self, seq: int) -> bytes: ...

    def logout(self, seq: int) -> bytes: ...

    def on_request(self, frame: bytes) -> tuple[bytes | None, bool]:
        """A PDU the gateway initiated: (reply to write or None, True if the link must close)."""


class Session:
    """One supervised connection; ``request(build)`` sends ``build(seq)`` and returns the
    response frame with the same sequence id."""

    def __init__(
        self,
        proto: WireProtocol,
        host: str,
        port: int,
        *,
        name: str = "gateway",
        window: int = 16,
        response_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        heartbeat: float = 30.0,
        heartbeat_misses: int = 3,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        wait_connected: float = 2.0,
        max_frame: int = 64 * 1024,
        connect: ConnectFn | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.proto = proto
        self.host, self.port, self.name = host, port, name
        self.window = window
        self.response_timeout = response_timeout
        self.connect_timeout = connect_timeout
        self.heartbeat = heartbeat
        self.heartbeat_misses = heartbeat_misses
        self.backoff_min, self.backoff_max = backoff_min, backoff_max
        self.wait_connected = wait_connected
        self.max_frame = max_frame
        self._connect = connect or _open
        self._clock = clock
        self._sleep = sleep
        self._seq = 0
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._sem: asyncio.Semaphore | None = None
        self._connected: asyncio.Event | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._last_rx = 0.0
        self.last_error: SmsError | None = None
        self.connects = 0          # successful logins, for tests and metrics
        self.failures = 0          # consecutive failed connection attempts

    # --- public API -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected is not None and self._connected.is_set()

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        """Start the supervisor (connect, log in, keep alive, reconnect). Idempotent."""
        if self._supervisor is None:
            self._sem = asyncio.Semaphore(self.window)
            self._connected = asyncio.Event()
            self._closing = False
            self._supervisor = asyncio.create_task(self._supervise(), name=f"sms-session-{self.name}")

    async def request(self, build: Callable[[int], bytes]) -> bytes:
        """Write ``build(seq)`` and wait for its response under the sliding window."""
        await self.start()
        assert self._sem is not None and self._connected is not None
        async with self._sem:
            if not self._connected.is_set():
                try:
                    await asyncio.wait_for(self._connected.wait(), self.wait_connected)
                except TimeoutError:
                    err = self.last_error
                    raise GatewayTransientError(
                        f"{self.name}: not connected ({err or 'connecting'})",
                        code=err.code if err is not None else "gateway_unavailable",
                    ) from None
            writer = self._writer
            if writer is None or writer.is_closing():
                raise GatewayTransientError(f"{self.name}: link closed", code="gateway_unavailable")
            seq = self._next_seq()
            fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            self._pending[seq] = fut
            try:
                writer.write(build(seq))
                try:
                    return await asyncio.wait_for(fut, self.response_timeout)
                except TimeoutError:
                    raise GatewayUncertainError(
                        f"{self.name}: no response to seq {seq} in {self.response_timeout}s",
                        code="gateway_timeout",
                    ) from None
            finally:
                self._pending.pop(seq, None)

    async def close(self) -> None:
        """Send the protocol's logout, wait briefly for its answer, stop reconnecting."""
        if self._supervisor is None:
            return
        self._closing = True
        if self.connected and self._writer is not None:
            with contextlib.suppress(SmsError, OSError):
                await asyncio.wait_for(self.request(self.proto.logout), min(2.0, self.response_timeout))
        self._supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._supervisor
        self._supervisor = None

    def drop(self) -> None:
        """Close the socket now (the supervisor reconnects); for tests and admin commands."""
        if self._writer is not None:
            self._writer.close()

    # --- internals --------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = next_sequence(self._seq)
        return self._seq

    async def _supervise(self) -> None:
        assert self._connected is not None
        while not self._closing:
            logged_in = False
            writer: asyncio.StreamWriter | None = None
            try:
                reader, new_writer = await asyncio.wait_for(
                    self._connect(self.host, self.port), self.connect_timeout)
                writer = new_writer
                writer.write(self.proto.login(self._next_seq()))
                frame = await asyncio.wait_for(self._read_frame(reader), self.response_timeout)
                self.proto.check_login(frame)
                logged_in = True
                self.failures = 0
                self.connects += 1
                self.last_error = None
                self._writer = writer
                self._last_rx = self._clock()
                self._connected.set()
                log.info("%s: logged in to %s:%s", self.name, self.host, self.port)
                await self._run_link(reader, new_writer)
            except asyncio.CancelledError:
                raise
            except SmsError as exc:
                self.last_error = exc
                log.warning("%s: %s", self.name, exc)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                self.last_error = GatewayTransientError(
                    f"{self.name}: connection failed: {exc!r}", code="gateway_unreachable")
                if not self._closing:
                    log.warning("%s: link error %r", self.name, exc)
            finally:
                self._connected.clear()
                self._writer = None
                if writer is not None:
                    writer.close()
                self._fail_pending()
            if self._closing:
                break
            if not logged_in:
                self.failures += 1
            delay = min(self.backoff_max, self.backoff_min * (2 ** max(0, self.failures - 1)))
            await self._sleep(delay if not logged_in else self.backoff_min)

    def _fail_pending(self) -> None:
        for seq, fut in list(self._pending.items()):
            if not fut.done():
                fut.set_exception(GatewayUncertainError(
                    f"{self.name}: link dropped with seq {seq} unanswered", code="gateway_dropped"))

    async def _read_frame(self, reader: asyncio.StreamReader) -> bytes:
        header = await reader.readexactly(self.proto.header_size)
        length, _, _ = self.proto.frame_info(header)
        if not self.proto.header_size <= length <= self.max_frame:
            raise GatewayTransientError(f"{self.name}: bad frame length {length}", code="gateway_protocol")
        return header + await reader.readexactly(length - self.proto.header_size)

    async def _run_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        keepalive = asyncio.create_task(self._keepalive(writer))
        try:
            while True:
                frame = await self._read_frame(reader)
                self._last_rx = self._clock()
                _, command, seq = self.proto.frame_info(frame)
                if self.proto.is_response(command):
                    fut = self._pending.get(seq)
                    if fut is not None and not fut.done():
                        fut.set_result(frame)
                    continue
                try:
                    reply, must_close = self.proto.on_request(frame)
                except SmsError as exc:  # log and drop undecodable gateway requests
                    log.warning("%s: dropped bad request: %s", self.name, exc)
                    continue
                if reply is not None:
                    writer.write(reply)
                if must_close:
                    await writer.drain()
                    return
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keepalive

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        misses = 0
        while True:
            await self._sleep(max(0.05, self.heartbeat / 4))
            if self._clock() - self._last_rx < self.heartbeat:
                misses = 0
                continue
            try:
                await self.request(self.proto.active_test)
                misses = 0
            except SmsError:
                misses += 1
                log.warning("%s: active test unanswered (%d/%d)", self.name, misses,
                            self.heartbeat_misses)
                if misses >= self.heartbeat_misses:
                    writer.close()  # the reader sees EOF; the supervisor reconnects
                    return


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port)


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """TLS towards the gateway. The certificate is always verified (CA bundle, name); there is
    no "insecure" switch: a gateway that cannot be verified could read every OTP we send."""

    ca_file: str = ""          # PEM bundle of the CAs to trust; empty = the system's
    server_name: str = ""      # name the certificate must carry; empty = the host we connect to
    cert_file: str = ""        # our client certificate (mutual TLS), PEM; empty = none
    key_file: str = ""         # its private key; empty = inside cert_file

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file or None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file or None)
        return ctx


def tls_connector(options: TlsOptions) -> ConnectFn:
    """A connect function opening TLS (context built once, so a bad CA file fails early)."""
    ctx = options.context()

    async def connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port, ssl=ctx,
                                             server_hostname=options.server_name or host)

    return connect
