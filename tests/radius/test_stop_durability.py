"""A Stop's log records survive Redis failing right after the session was closed.

The accounting script closes the session (phone's hash slot); the Stop's accounting-log entry
and real-name logout go to streams in other slots, in the next round trip. Redis is stopped
for real exactly between the two (the processor's second pipeline finds it gone), restarted
from its AOF, and the AC's retransmission of the Stop (a longer Acct-Delay-Time) arrives:
afterwards there is exactly one stop entry, one logout, and the usage is booked once.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from portal.aaa.acs import AcRecord
from portal.aaa.grants import ClassSigner
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.usage import UsageBook
from portal.runtime.settings import QuotaSettings
from portal.state import keys, keys_outbox
from portal.state.embedded import EmbeddedRedis
from radius import accounting
from radius.accounting import AccountingProcessor, AcctRecord, AcctStatus, StopInProgress
from radius.acct_script import STOP_LEASE
from tests.radius.serverkit import HAVE_RADCLIENT, radclient, register, running_server, signed_class

AC = AcRecord(name="ac1", addresses=("127.0.0.1",), secret="s")
PHONE = "13800138011"
T0 = 1_800_000_000.0
SIGNER = ClassSigner(b"d" * 32)


class _DiesAfterClose(redis.Redis):  # type: ignore[type-arg]
    """Armed, the first ``pipeline()`` asked for once the session is gone from its phone's hash
    (the accounting script closed it) first stops the real server (SIGTERM: what was acknowledged
    is in the AOF), so the commands queued on it — the Stop's log records — fail."""

    def __init__(self, server: EmbeddedRedis, **kw: Any) -> None:
        super().__init__(**kw)
        self.server = server
        self.armed = False

    def pipeline(self, *args: Any, **kw: Any) -> Any:
        if self.armed and not self.hexists(keys.phone_sessions(PHONE), f"{AC.name}|D1"):
            self.armed = False
            self.server.stop()
        return super().pipeline(*args, **kw)


def _rec(status: AcctStatus, **kw: Any) -> AcctRecord:
    return AcctRecord(status=int(status), session_id="D1", user_name=PHONE,
                      calling_station_id="AA-BB-CC-DD-EE-11", framed_ip="10.0.0.11",
                      nas_ip="127.0.0.1", class_=SIGNER.make(PHONE, "basic", T0, AC.name, b"D1"), **kw)


def _entries(client: Any, stream: str) -> list[dict[bytes, bytes]]:
    return [f for _, f in client.xrange(stream) if f.get(b"sid") == b"D1"]


@pytest.fixture
def server(tmp_path: Path) -> Any:
    srv = EmbeddedRedis(tmp_path / "r", port=0).start()
    try:
        yield srv
    finally:
        srv.stop()


def _processor(client: Any) -> AccountingProcessor:
    return AccountingProcessor(client, settings=QuotaSettings(plan_cache_ttl=0), grace=60,
                               class_signer=SIGNER)


def test_redis_dying_after_the_close_loses_no_stop_record(server: EmbeddedRedis) -> None:
    client = _DiesAfterClose(server, host="127.0.0.1", port=server.port)
    PlanStore(client, cache_ttl=0).put(Plan("basic", interim_interval=300))
    proc = _processor(client)
    proc.process(AC, _rec(AcctStatus.START), T0)
    stop = _rec(AcctStatus.STOP, session_time=300, input_octets=1000, output_octets=5000,
                terminate_cause=1, delay_time=0)
    client.armed = True
    with pytest.raises(redis.exceptions.ConnectionError):
        proc.process(AC, stop, T0 + 300)      # not answered: the AC will retransmit
    server.start()
    client = _DiesAfterClose(server, host="127.0.0.1", port=server.port)
    assert client.hlen(keys.phone_sessions(PHONE)) == 0           # the close was stored …
    assert _entries(client, keys.acct_log())[-1][b"st"] == b"1"   # … its records were not
    proc = _processor(client)
    # A copy within the lease of the failed attempt is not answered yet ...
    with pytest.raises(StopInProgress):
        proc.process(AC, dataclasses.replace(stop, delay_time=1), T0 + 301)
    # ... the AC's next retransmission writes them.
    proc.process(AC, dataclasses.replace(stop, delay_time=STOP_LEASE + 1), T0 + 301 + STOP_LEASE)
    # Further copies are plain repeats.
    proc.process(AC, dataclasses.replace(stop, delay_time=2 * STOP_LEASE + 2), T0 + 302 + 2 * STOP_LEASE)
    acct = _entries(client, keys.acct_log())
    assert [f[b"st"] for f in acct] == [b"1", b"2"], acct
    logouts = [f for f in _entries(client, keys.real_name_log()) if f[b"kind"] == b"logout"]
    assert len(logouts) == 1, logouts
    assert logouts[0][b"phone"] == PHONE.encode()
    u = UsageBook(client).get(PHONE, T0 + 300)
    assert (u.daily_time, u.daily_volume) == (300, 6000)
    assert not client.exists(keys_outbox.session_logout_pending(PHONE, AC.name, "D1"))
    client.close()


def test_a_stop_that_went_through_leaves_no_marker(server: EmbeddedRedis) -> None:
    client = redis.Redis(host="127.0.0.1", port=server.port)
    PlanStore(client, cache_ttl=0).put(Plan("basic", interim_interval=300))
    proc = _processor(client)
    proc.process(AC, _rec(AcctStatus.START), T0)
    proc.process(AC, _rec(AcctStatus.STOP, session_time=60, input_octets=10, output_octets=20), T0 + 60)
    assert not client.exists(keys_outbox.session_logout_pending(PHONE, AC.name, "D1"))
    assert len(_entries(client, keys.acct_log())) == 2
    client.close()


@pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient (freeradius-utils) not installed")
def test_radclient_retransmission_after_a_redis_restart_writes_the_records(
        server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the real server on UDP, radclient as the AC. Redis is killed (``appendfsync
    always``: what it acknowledged survives) right after the accounting script closed the
    session, while the Stop's records are being queued; no Accounting-Response goes out.
    Redis comes back; radclient's own retransmission is answered and the records exist once."""
    admin = redis.Redis(host="127.0.0.1", port=server.port)
    admin.config_set("appendfsync", "always")
    register(admin)
    admin.close()
    cls = signed_class(PHONE, issued=time.time() - 600, nonce=b"D1")
    killed = threading.Event()
    original = accounting.confirm_in

    def dies_first(*args: Any, **kw: Any) -> Any:   # queued after the close, before the writes
        if not killed.is_set():
            killed.set()
            server.kill()
        return original(*args, **kw)

    monkeypatch.setattr(accounting, "confirm_in", dies_first)
    lines = "\n".join(['Acct-Session-Id = "D1"', f'User-Name = "{PHONE}"',
                       'Calling-Station-Id = "aa-bb-cc-dd-ee-11"', "Framed-IP-Address = 10.0.0.11",
                       f"Class = 0x{cls.hex()}"])
    with running_server(server.url, batch_wait=0.01) as srv:
        out = radclient(srv.acct_port, "acct", f"Acct-Status-Type = Start\n{lines}\n", timeout=2.0, retries=3)
        assert "Received Accounting-Response" in out, out
        answer: list[str] = []
        stop = (f"Acct-Status-Type = Stop\n{lines}\nAcct-Session-Time = 300\nAcct-Input-Octets = 1000\n"
                "Acct-Output-Octets = 5000\nAcct-Terminate-Cause = User-Request\n")
        ac = threading.Thread(target=lambda: answer.append(
            radclient(srv.acct_port, "acct", stop, timeout=2.0, retries=8)))
        ac.start()
        assert killed.wait(10), "the Stop never reached the close"
        time.sleep(0.5)
        server.start()
        ac.join(40)
        assert answer and "Received Accounting-Response" in answer[0], answer
    client = redis.Redis(host="127.0.0.1", port=server.port)
    acct = _entries(client, keys.acct_log())
    assert [f[b"st"] for f in acct] == [b"1", b"2"], acct
    logouts = [f for f in _entries(client, keys.real_name_log()) if f[b"kind"] == b"logout"]
    assert len(logouts) == 1, logouts
    u = UsageBook(client).get(PHONE, time.time())
    assert (u.daily_time, u.daily_volume) == (300, 6000)
    assert not client.exists(keys_outbox.session_logout_pending(PHONE, "ac1", "D1"))
    client.close()


def test_records_lost_with_the_connection_are_written_by_the_retransmission(
        redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same point, the failure injected (the follow-up writes fail as redis-py fails when the
    connection is gone): runs on the shared server and, from tests/scale, on a Redis Cluster,
    where the session's slot and the two streams' slots are on different masters."""
    PlanStore(redis_client, cache_ttl=0).put(Plan("basic", interim_interval=300))
    proc = _processor(redis_client)
    proc.process(AC, _rec(AcctStatus.START), T0)
    stop = _rec(AcctStatus.STOP, session_time=300, input_octets=1000, output_octets=5000, delay_time=0)

    def lost(*args: Any, **kw: Any) -> None:
        raise redis.exceptions.ConnectionError("Connection closed by server.")

    monkeypatch.setattr(accounting, "confirm_in", lost)
    with pytest.raises(redis.exceptions.ConnectionError):
        proc.process(AC, stop, T0 + 300)
    monkeypatch.undo()
    assert [f[b"st"] for f in _entries(redis_client, keys.acct_log())] == [b"1"]
    proc.process(AC, dataclasses.replace(stop, delay_time=STOP_LEASE), T0 + 300 + STOP_LEASE)
    proc.process(AC, dataclasses.replace(stop, delay_time=9), T0 + 309)
    assert [f[b"st"] for f in _entries(redis_client, keys.acct_log())] == [b"1", b"2"]
    assert len([f for f in _entries(redis_client, keys.real_name_log()) if f[b"kind"] == b"logout"]) == 1
    u = UsageBook(redis_client).get(PHONE, T0 + 300)
    assert (u.daily_time, u.daily_volume) == (300, 6000)


def test_a_marker_not_cleared_does_not_hold_the_answer(
        redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The records are stored; only the marker's deletion fails: the Stop is answered (no
    retransmission to write them twice) and the marker expires with the tombstone."""
    PlanStore(redis_client, cache_ttl=0).put(Plan("basic", interim_interval=300))
    proc = _processor(redis_client)
    proc.process(AC, _rec(AcctStatus.START), T0)

    class _Lost:
        def execute_command(self, *args: Any) -> None:
            pass

        def execute(self) -> None:
            raise redis.exceptions.ConnectionError("Connection closed by server.")

    original = accounting.clear_pending
    monkeypatch.setattr(accounting, "clear_pending", lambda pipe, markers: original(_Lost(), markers))
    proc.process(AC, _rec(AcctStatus.STOP, session_time=60, input_octets=1, output_octets=2), T0 + 60)
    assert [f[b"st"] for f in _entries(redis_client, keys.acct_log())] == [b"1", b"2"]
    marker = keys_outbox.session_logout_pending(PHONE, AC.name, "D1")
    assert 0 < redis_client.ttl(marker) <= QuotaSettings().tombstone_ttl
