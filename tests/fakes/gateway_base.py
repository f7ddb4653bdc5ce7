"""Shared machinery of the fake operator gateways (SMGP, CMPP): a real asyncio TCP server on
127.0.0.1 running in its own thread, so both in-process tests and worker subprocesses can
talk to it. Subclasses supply the protocol (login check, submit answer, report PDU).

Fault injection (set attributes at any time, from any thread):
``auth_fail`` (refuse every login), ``impostor`` (accept every login but sign the answer
without knowing the secret, as a host that is not the operator's would), ``illegal_numbers``
(refuse those destinations),
``flow_control`` (refuse every submit with the operator's flow-control/volume code),
``reply_delay`` (seconds before each submit response), ``drop_on_submit`` (close the
connection instead of answering the next N submits), ``silent`` (never answer anything
after login, including active tests), ``report_delay`` (None = push no reports),
``report_stats`` (phone → the final report's status instead of DELIVRD, e.g. an
unknown-subscriber code), ``refusals`` (every submit refused, with the field it broke).

Field checks, as a real gateway makes them: ``service_ids`` (accepted service codes; None =
any), ``src_prefix`` (the SP access number every source must start with), ``dest_form``
("bare" 11 digits or "86" + 11 digits). Subclasses check their protocol's other fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from dataclasses import dataclass, field
from typing import Any, TypeVar

_G = TypeVar("_G", bound="FakeGatewayBase")


@dataclass
class Received:
    """One submit the gateway accepted (what a phone would get)."""

    phone: str
    content: bytes
    msg_format: int
    message_id: str
    udhi: bool = False
    conn: int = 0
    pdu: Any = None          # the decoded Submit, for field checks in tests


@dataclass
class ConnState:
    conn_id: int
    writer: asyncio.StreamWriter
    logged_in: bool = False
    outstanding: int = 0
    seq: int = 0x40000000
    extra: dict[str, Any] = field(default_factory=dict)


class FakeGatewayBase:
    header_size = 12
    window = 16

    def __init__(self, *, report_delay: float | None = 0.05) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.logins = 0
        self.login_failures = 0
        self.active_tests = 0
        self.exits = 0
        self.window_violations = 0
        self.max_outstanding = 0
        self.reports_acked: list[Any] = []
        self.auth_fail = False
        self.impostor = False
        self.illegal_numbers: set[str] = set()
        self.flow_control = False
        self.reply_delay = 0.0
        self.drop_on_submit = 0
        self.silent = False
        self.report_delay = report_delay
        self.report_stats: dict[str, Any] = {}
        self.refusals: list[tuple[str, int]] = []
        self.report_conns: list[int] = []         # connection id each report went out on
        self.submits_seen = 0                     # every Submit that arrived, accepted or not
        self.service_ids: set[str] | None = None
        self.src_prefix = ""
        self.dest_form = "bare"
        self._serial = 0
        self._conns: dict[int, ConnState] = {}
        self._next_conn = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeGatewayBase:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, self.host, 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            for c in list(self._conns.values()):
                c.writer.close()
            loop.run_until_complete(self._server.wait_closed())
            pending = asyncio.all_tasks(loop)
            for t in pending:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop = None

    def __enter__(self: _G) -> _G:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_all(self) -> None:
        """Cut every connection now (a gateway restart or a network fault)."""
        assert self._loop is not None
        for c in list(self._conns.values()):
            self._loop.call_soon_threadsafe(c.writer.close)

    @property
    def connections(self) -> int:
        return len(self._conns)

    def phones(self) -> list[str]:
        with self.lock:
            return [r.phone for r in self.received]

    # --- protocol hooks (subclasses) -------------------------------------------------------

    def next_message_id(self) -> tuple[bytes | int, str]:
        raise NotImplementedError

    async def on_frame(self, conn: ConnState, frame: bytes) -> None:
        raise NotImplementedError

    # --- helpers for subclasses -------------------------------------------------------------

    def next_serial(self) -> int:
        with self.lock:
            self._serial += 1
            return self._serial

    def write(self, conn: ConnState, data: bytes) -> None:
        if not conn.writer.is_closing():
            conn.writer.write(data)

    async def answer_submit(self, conn: ConnState, resp: bytes, report: bytes | None) -> None:
        """Send the Submit response after the configured delay, then maybe the report."""
        try:
            if self.reply_delay:
                await asyncio.sleep(self.reply_delay)
            self.write(conn, resp)
        finally:
            conn.outstanding -= 1
        if report is not None and self.report_delay is not None:
            await asyncio.sleep(self.report_delay)
            target = self.report_target(conn)
            if target is not None:
                self.report_conns.append(target.conn_id)
                self.write(target, report)

    def count_submit(self, conn: ConnState) -> bool:
        """Track outstanding submits; False when the client broke the window (§1.2)."""
        self.submits_seen += 1
        conn.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, conn.outstanding)
        if conn.outstanding > self.window:
            self.window_violations += 1
            return False
        return True

    def refuse(self, field_name: str, code: int) -> int:
        with self.lock:
            self.refusals.append((field_name, code))
        return code

    def dest_ok(self, dest: str) -> bool:
        """The destination in the form this gateway wants (bare or 86-prefixed 11 digits)."""
        number = dest[2:] if self.dest_form == "86" and dest.startswith("86") else dest
        if self.dest_form == "86" and number == dest:
            return False
        return len(number) == 11 and number.isdigit() and number[0] == "1"

    @staticmethod
    def udh_ok(content: bytes, udhi: bool, total: int, number: int) -> bool:
        """TP_udhi set exactly when the content starts with a concatenation UDH whose total and
        number match the protocol's own part fields (GSM 03.40 §9.2.3.24.1)."""
        if not udhi:
            return total == 1 and number == 1
        return (len(content) > 6 and content[:3] == b"\x05\x00\x03" and content[4] == total
                and content[5] == number and 1 <= number <= total)

    def report_target(self, conn: ConnState) -> ConnState | None:
        """The connection a status report goes out on (protocols with receive-only logins
        override it)."""
        return conn

    def next_seq(self, conn: ConnState) -> int:
        conn.seq += 1
        return conn.seq

    # --- socket loop ------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._next_conn += 1
        conn = ConnState(self._next_conn, writer)
        self._conns[conn.conn_id] = conn
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                header = await reader.readexactly(self.header_size)
                (length,) = struct.unpack_from(">I", header)
                if not self.header_size <= length <= 65536:
                    break
                frame = header + await reader.readexactly(length - self.header_size)
                if self.silent and conn.logged_in:
                    continue
                task = asyncio.create_task(self.on_frame(conn, frame))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                await asyncio.sleep(0)  # let quick frames be handled in order
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._conns.pop(conn.conn_id, None)
            writer.close()
            for t in tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
