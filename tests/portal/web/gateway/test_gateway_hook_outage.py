"""openNDS events when Redis dies in the middle of applying one.

A real redis-server of this test's own (AOF, ``appendfsync always``: what it acknowledged
survives ``kill -9``) is killed at chosen points inside the apply and restarted on its AOF.
The hook got a 503 and resends the same event (same nonce, fresh ts): the resend must be
applied, not refused as a replay, and the usage booked exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redislib

import portal.aaa.gateway_sessions as gateway_sessions
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.gateway_sessions import GatewaySessions
from portal.aaa.session_close import LEASE, LoggedClose
from portal.aaa.sessions import SessionRegistry
from portal.aaa.usage import UsageBook
from portal.state.embedded import EmbeddedRedis
from tests.portal.web.consolekit import make_app
from tests.portal.web.gateway.test_gateway_hook import (
    FASKEY,
    GW,
    GW_IP,
    HOOK_SECRET,
    PHONE,
    body,
    client,
    granted,
    post,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", port=0).start()
    try:
        yield server
    finally:
        server.stop()


def _always_fsync(store: EmbeddedRedis) -> None:
    c = redislib.Redis.from_url(store.url)
    c.config_set("appendfsync", "always")
    c.close()


@pytest.fixture
def rig(store: EmbeddedRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    _always_fsync(store)
    monkeypatch.setattr(gateway_sessions, "CLAIM_LEASE", 2)     # a dead request's lease, shortened
    r = redislib.Redis.from_url(store.url, socket_timeout=2)
    AcRegistry(r).put(AcRecord(name=GW, addresses=(GW_IP,), secret=HOOK_SECRET, kind="opennds",
                               faskey=FASKEY))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    try:
        yield make_app(r, data_dir), r
    finally:
        r.close()


def kill_after(store: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str,
               before: bool = False) -> Callable[[], None]:
    """Kill Redis (once) right after ``owner.name`` ran, or just before it; returns the undo."""
    original = getattr(owner, name)
    fired: list[bool] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if before and not fired:
            fired.append(True)
            store.kill()
        result = original(*args, **kwargs)
        if not fired:
            fired.append(True)
            store.kill()
        return result

    monkeypatch.setattr(owner, name, wrapped)
    return lambda: monkeypatch.setattr(owner, name, original)


def restart(store: EmbeddedRedis) -> None:
    store.start()
    _always_fsync(store)


def resend(c: Any, raw: bytes) -> Any:
    """The hook's spool: again while the answer is 503 (a dead request's lease may hold a moment)."""
    deadline = time.time() + 10
    while (answer := post(c, raw)).status_code == 503 and time.time() < deadline:
        time.sleep(0.3)
    return answer


def usage_volume(r: Any) -> int:
    return UsageBook(r).get(PHONE, time.time()).daily_volume


def test_redis_dies_after_the_start_opened_the_session(store: EmbeddedRedis, rig: tuple[Any, Any],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    app, r = rig
    c, hid = client(app), granted(r)
    start = {"nonce": "start0001"}
    undo = kill_after(store, monkeypatch, SessionRegistry, "open")   # the grant is not spent yet
    assert post(c, body("client_auth", hid, **start)).status_code == 503
    undo()
    restart(store)
    # The resend (same nonce) is applied: the lease of the dead request may still hold a moment.
    resent = resend(c, body("client_auth", hid, **start))
    assert resent.status_code == 200 and resent.get_json()["result"] == "started", resent.get_json()
    assert len(SessionRegistry(r).by_ac(GW)) == 1
    assert post(c, body("client_auth", hid, **start)).get_json()["error"] == "replay"


@pytest.mark.parametrize("where", ["before_close", "after_close"])
def test_redis_dies_in_the_middle_of_a_stop(store: EmbeddedRedis, rig: tuple[Any, Any],
                                            monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    app, r = rig
    c, hid = client(app), granted(r)
    assert post(c, body("client_auth", hid)).status_code == 200
    stop = {"end": int(time.time()), "in": 70_000, "out": 7_000, "nonce": "stop0001"}
    if where == "before_close":        # usage booked, the session still open
        undo = kill_after(store, monkeypatch, LoggedClose, "close", before=True)
    else:                              # booked and closed, the event not yet recorded as applied
        undo = kill_after(store, monkeypatch, GatewaySessions, "mark_applied", before=True)
    assert post(c, body("client_deauth", hid, **stop)).status_code == 503
    undo()
    restart(store)
    assert usage_volume(r) == 77_000            # the booking went through with its marker
    resent = resend(c, body("client_deauth", hid, **stop))
    assert resent.status_code == 200, resent.get_json()
    expected = "stopped" if where == "before_close" else "already_closed"
    assert resent.get_json()["result"] == expected, resent.get_json()
    assert SessionRegistry(r).by_ac(GW) == []
    assert usage_volume(r) == 77_000            # booked once, not again by the resend
    assert post(c, body("client_deauth", hid, **stop)).get_json()["error"] == "replay"


def test_redis_dies_between_the_close_and_its_logout_records(
        store: EmbeddedRedis, rig: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The session closed (its script ran), then Redis died before the real-name logout and the
    accounting-log entry were written: the resend writes them, once, and books nothing again."""
    app, r = rig
    c, hid = client(app), granted(r)
    assert post(c, body("client_auth", hid)).status_code == 200
    stop = {"end": int(time.time()), "in": 70_000, "out": 7_000, "nonce": "stop0002"}
    undo = kill_after(store, monkeypatch, LoggedClose, "write_records", before=True)
    assert post(c, body("client_deauth", hid, **stop)).status_code == 503
    undo()
    restart(store)
    assert SessionRegistry(r).get(GW, hid[:32]) is None  # the close was stored …
    assert _logouts(r) == [] and _gw_stops(r) == []      # … its records were not
    time.sleep(LEASE + 1)                                # the dead attempt's lease runs out
    resent = resend(c, body("client_deauth", hid, **stop))
    assert resent.status_code == 200, resent.get_json()
    assert resent.get_json()["result"] == "stopped", resent.get_json()
    logouts = _logouts(r)                                # the resend wrote them, once
    assert len(logouts) == 1 and logouts[0][b"phone"] == PHONE.encode(), logouts
    assert (logouts[0][b"in"], logouts[0][b"out"]) == (b"7000", b"70000"), logouts   # upload, download
    assert len(_gw_stops(r)) == 1
    assert usage_volume(r) == 77_000
    assert post(c, body("client_deauth", hid, **stop)).get_json()["error"] == "replay"
    assert len(_logouts(r)) == 1 and len(_gw_stops(r)) == 1


def test_a_resend_within_the_lease_is_answered_503(
        store: EmbeddedRedis, rig: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    app, r = rig
    c, hid = client(app), granted(r)
    assert post(c, body("client_auth", hid)).status_code == 200
    stop = {"end": int(time.time()), "in": 1_000, "out": 1_000, "nonce": "stop0003"}
    undo = kill_after(store, monkeypatch, LoggedClose, "write_records", before=True)
    assert post(c, body("client_deauth", hid, **stop)).status_code == 503
    undo()
    restart(store)
    for key in r.keys("*:seen:*"):                # the dead request's claim, gone at once
        r.delete(key)
    answer = post(c, body("client_deauth", hid, **stop))
    assert answer.status_code == 503, answer.get_json()   # the first attempt's lease still holds
    assert _logouts(r) == []
    assert resend(c, body("client_deauth", hid, **stop)).status_code == 200
    assert len(_logouts(r)) == 1


def _logouts(r: Any) -> list[dict[bytes, bytes]]:
    from portal.state import keys
    return [f for _, f in r.xrange(keys.real_name_log()) if f.get(b"kind") == b"logout"]


def _gw_stops(r: Any) -> list[dict[bytes, bytes]]:
    from portal.state import keys
    return [f for _, f in r.xrange(keys.acct_log()) if f.get(b"k") == b"gw-stop"]
