"""Every dropped packet — Access-Request, Accounting-Request, a Disconnect/CoA
reply — is counted by reason and AC and told to the operator at INFO/WARNING, rate-limited."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import pytest

from portal.aaa.acs import AcRecord
from portal.aaa.sessions import OnlineSession
from radius.drops import DropReporter
from radius.enforcement import Enforcer
from radius.metrics import Metrics
from radius.rfc5176 import DynCode
from radius.wire import encode_reply


class BrokenNas:
    """An AC's RFC 5176 port that answers every Disconnect-Request with something that is no
    valid answer: signed with the wrong secret, for another Identifier, then garbage."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            self.requests += 1
            ident, auth = data[1], data[4:20]
            ack = DynCode.DISCONNECT_ACK
            for reply in (encode_reply(ack, ident, auth, b"not-the-secret", ()),
                          encode_reply(ack, (ident + 1) % 256, auth, b"radius-secret-1234", ()),
                          b"\x29\x00\x00"):
                self.sock.sendto(reply, addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_disconnect_replies_that_are_no_answer_are_counted_per_ac_and_logged(
        redis_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    nas = BrokenNas()
    metrics = Metrics()
    ac = AcRecord(name="ac1", addresses=("127.0.0.1",), secret="portal-secret",
                  radius_secret="radius-secret-1234", coa_port=nas.port)
    session = OnlineSession("ac1", "S1", "13800138000", mac="aa:bb:cc:dd:ee:01", ip="10.0.0.5",
                            started=int(time.time()), updated=int(time.time()), interim=300, plan="basic")
    enforcer = Enforcer(redis_client, timeout=0.3, retries=2, drops=DropReporter(metrics),
                        portal_logout=lambda *_: True)
    try:
        with caplog.at_level(logging.INFO, logger="radius.drops"):
            result = enforcer.disconnect(session, "admin", ac=ac)
    finally:
        nas.close()
    assert nas.requests == 2
    assert (result.ok, result.method) == (True, "portal")     # no valid answer: the fallback
    for reason in ("dm_reply_bad_authenticator", "dm_reply_mismatch", "dm_reply_malformed"):
        assert metrics.get(f"ac_drop.{reason}.ac1") == 2, metrics.snapshot()
    texts = [r.getMessage() for r in caplog.records]
    assert sum("AC ac1: Disconnect/CoA reply dropped (Disconnect/CoA reply with a wrong authenticator)"
               in t for t in texts) == 1                        # once, then summarised
    assert any(r.levelno == logging.WARNING and "malformed Disconnect/CoA reply" in r.getMessage()
               for r in caplog.records)


def test_drop_summaries_say_how_many_per_ac_and_why(caplog: pytest.LogCaptureFixture) -> None:
    """The wording an integrator sees without DEBUG: the first drop at once, then one summary per
    interval per AC and reason."""
    now = [0.0]
    metrics = Metrics()
    reporter = DropReporter(metrics, interval=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="radius.drops"):
        for _ in range(121):
            reporter.drop("missing_message_authenticator", "Access-Request", "foo", "10.0.0.1")
        reporter.drop("duplicate_in_progress", "Access-Request", "foo", "10.0.0.1")
        reporter.drop("unknown_client", "Accounting-Request", None, "192.0.2.9")
        now[0] = 61.0
        reporter.tick()
    texts = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert texts[0][0] == logging.WARNING and texts[0][1].startswith(
        "AC foo: Access-Request dropped (no Message-Authenticator)")
    assert (logging.INFO, "AC foo: Access-Request dropped (retransmission while the original is still "
            "being processed); normal under load; the original gets the answer [further drops summarised "
            "every 60 s]") in texts
    assert any(t[1].startswith("source 192.0.2.9: Accounting-Request dropped (source address is not a "
                               "registered AC)") for t in texts)
    assert any(t[1].startswith("AC foo: 120 Access-Requests dropped (no Message-Authenticator) in the "
                               "last 60 s") for t in texts)
    assert len(texts) == 4
    assert metrics.get("ac_drop.missing_message_authenticator.foo") == 121
    assert metrics.get("ac_drop.unknown_client.-") == 1
