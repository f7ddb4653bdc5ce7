"""A Stop retransmitted the way real ACs do is logged once.

An AC that gets no Accounting-Response in time sends the Stop again with a larger
Acct-Delay-Time: a new Identifier and Request Authenticator (RFC 2866 §5.2, RFC 5080 §2.2.1),
so the server's packet-level duplicate cache does not catch it. Counters and the real-name
logout were already not doubled (the accounting script answers 'dup' for a session already
stopped), but the Stop wrote a second ``stop`` entry to the accounting legal log. Now the
script's answer decides that write. Debian's radclient as the AC, the real server, real Redis.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from portal.aaa.usage import UsageBook
from portal.state import keys
from tests.radius.serverkit import (
    HAVE_RADCLIENT,
    RunningServer,
    radclient,
    register,
    running_server,
    signed_class,
)

pytestmark = pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient (freeradius-utils) not installed")

PHONE = "18900000007"


@pytest.fixture
def srv(redis_client: Any, redis_url: str) -> Iterator[RunningServer]:
    register(redis_client)
    with running_server(redis_url, batch_wait=0.01) as server:     # what arrives at once: one batch
        yield server


def _lines(status: str, cls: bytes, **attrs: Any) -> str:
    return "\n".join([f"Acct-Status-Type = {status}", 'Acct-Session-Id = "rt-1"', f'User-Name = "{PHONE}"',
                      'Calling-Station-Id = "aa-bb-cc-dd-ee-07"', "Framed-IP-Address = 10.0.0.7",
                      f"Class = 0x{cls.hex()}", *(f"{k.replace('_', '-')} = {v}" for k, v in attrs.items())])


def _send(srv: RunningServer, status: str, cls: bytes, **attrs: Any) -> None:
    out = radclient(srv.acct_port, "acct", _lines(status, cls, **attrs) + "\n", timeout=1.0, retries=2)
    assert "Received Accounting-Response" in out, out


def _entries(redis: Any, stream: str) -> list[dict[bytes, bytes]]:
    return [f for _, f in redis.xrange(stream) if f.get(b"sid") == b"rt-1"]


def test_a_retransmitted_stop_writes_one_accounting_log_entry(redis_client: Any, srv: RunningServer) -> None:
    cls = signed_class(PHONE, issued=time.time() - 600)
    _send(srv, "Start", cls)
    stop = {"Acct_Session_Time": 300, "Acct_Input_Octets": 1000, "Acct_Output_Octets": 5000,
            "Acct_Terminate_Cause": "User-Request"}
    _send(srv, "Stop", cls, Acct_Delay_Time=0, **stop)
    for delay in (3, 7):               # the AC heard nothing: the same Stop, a longer delay
        _send(srv, "Stop", cls, Acct_Delay_Time=delay, **stop)
    acct = _entries(redis_client, keys.acct_log())
    assert [(f[b"k"], f[b"st"]) for f in acct] == [(b"acct", b"1"), (b"acct", b"2")], acct
    assert acct[1][b"dly"] == b"0" and acct[1][b"t"] == b"300"         # the first Stop's entry
    logouts = [f for f in _entries(redis_client, keys.real_name_log()) if f[b"kind"] == b"logout"]
    assert len(logouts) == 1
    u = UsageBook(redis_client).get(PHONE, time.time())
    assert (u.daily_time, u.daily_volume) == (300, 6000)


def test_copies_of_a_stop_in_one_batch_write_one_entry(redis_client: Any, srv: RunningServer) -> None:
    """The retransmission reaches the server before the first copy was answered: both copies are
    drained into one batch, one pipeline."""
    cls = signed_class(PHONE, issued=time.time() - 600)
    _send(srv, "Start", cls)
    copies = [_lines("Stop", cls, Acct_Session_Time=100, Acct_Input_Octets=10, Acct_Delay_Time=d)
              for d in (0, 2, 4)]
    out = radclient(srv.acct_port, "acct", "\n\n".join(copies) + "\n", timeout=1.0, retries=2,
                    extra=("-p", "3"))
    assert out.count("Received Accounting-Response") == 3, out
    stops = [f for f in _entries(redis_client, keys.acct_log()) if f[b"st"] == b"2"]
    assert len(stops) == 1, stops
    logouts = [f for f in _entries(redis_client, keys.real_name_log()) if f[b"kind"] == b"logout"]
    assert len(logouts) == 1
