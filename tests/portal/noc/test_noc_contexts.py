"""The NOC page's login contexts (AP, login kind) read with one shared stream read per cluster
of session starts (``SessionQuery._grouped_contexts``) are exactly those each session's own
stream windows give, on a stream built to hit the edges: two logins of one device, a login
after the start (found only by the wide window), more than a near window's worth of other
phones' logins between a start and its login, entries in the start's millisecond + 2 s with a
later sequence number, a login of another device, and sessions with no login at all.
Real Redis."""

from __future__ import annotations

import random
from typing import Any

import pytest

from portal.aaa.plans import PlanStore
from portal.aaa.sessions import OnlineSession
from portal.aaa.usage import UsageBook
from portal.legal.reallog import LoginRecord
from portal.noc.session_search import SessionQuery
from portal.state import keys

T0 = 1_700_000_000.0


def mac(n: int) -> str:
    return f"02:00:00:00:{n // 256:02x}:{n % 256:02x}"


def login(pipe: Any, n: int, at: float, seq: int, *, device: int | None = None, kind: str = "sms") -> None:
    d = n if device is None else device   # another device: another MAC and IP
    rec = LoginRecord(f"1380000{n:04d}", mac(d), f"10.0.{d // 256}.{d % 256}",
                      "ac1", f"ap-{n}-{seq}", "Mall", "mall", kind, "basic", at)
    pipe.xadd(keys.real_name_log(), rec.fields(), id=f"{int(at * 1000)}-{seq}")


def build(redis_client: Any) -> list[OnlineSession]:
    rng = random.Random(7)
    sessions = []
    entries: list[tuple[float, int, int, dict[str, Any]]] = []
    for n in range(120):
        started = T0 + (n // 40) * 600 + rng.uniform(0, 8)   # three clusters of 40 starts
        sessions.append(OnlineSession("ac1", f"s{n}", f"1380000{n:04d}", mac=mac(n),
                                      ip=f"10.0.{n // 256}.{n % 256}", started=int(started),
                                      updated=int(started), plan="basic"))
        case = n % 6
        base = int(started)
        if case == 0:     # the usual: logged in a second before the start
            entries.append((base - 1.0, n, 0, {}))
        elif case == 1:   # two logins of the device: the newer one before the start counts
            entries.append((base - 50.0, n, 0, {"kind": "returning"}))
            entries.append((base - 0.5, n, 0, {}))
        elif case == 2:   # logged in after the start (AC fast, portal slow): the wide window
            entries.append((base + 10.0, n, 0, {}))
        elif case == 3:   # the login sits in start + 2 s's millisecond, after sequence 0
            entries.append((base + 2.0, n, 5, {}))
            entries.append((base - 3.0, n, 0, {"kind": "silent"}))
        elif case == 4:   # only another device of the phone logged in
            entries.append((base - 1.0, n, 0, {"device": 9000 + n}))
        # case 5: no login record at all
    # 150 other phones' logins crowd the second just before the second cluster's starts, and
    # 110 (more than a near window) land in the middle of its starts, between some of them
    # and their logins.
    for k in range(150):
        entries.append((T0 + 600 - 1.0 + k / 1000, 5000 + k, 0, {}))
    for k in range(110):
        entries.append((T0 + 603.5 + k / 1000, 6000 + k, 0, {}))
    entries.sort(key=lambda e: (int(e[0] * 1000), e[2]))
    pipe = redis_client.pipeline(transaction=False)
    seen: set[tuple[int, int]] = set()
    for at, n, seq, extra in entries:
        ms = int(at * 1000)
        while (ms, seq) in seen:
            seq += 1
        seen.add((ms, seq))
        login(pipe, n, ms / 1000, seq, **extra)
    pipe.execute()
    return sessions


@pytest.fixture
def query(redis_client: Any) -> SessionQuery:
    return SessionQuery(redis_client, plans=PlanStore(redis_client), usage=UsageBook(redis_client))


def test_grouped_contexts_equal_each_sessions_own_windows(query: SessionQuery, redis_client: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = build(redis_client)
    for page in (sessions[:50], sessions[35:85], sessions, sessions[::7]):
        fast = query.contexts(page)
        with monkeypatch.context() as m:
            m.setattr(SessionQuery, "_grouped_contexts", lambda self, s: {})
            own = query.contexts(page)
        assert fast == own
    # Each kind of edge was met, so the comparison means something.
    found = query.contexts(sessions)
    assert {found[s.field].kind for s in sessions[1::6]} == {"sms"}           # newer of two
    assert all(s.field in found for s in sessions[2::6])                      # after the start
    # The entry in start + 2 s's millisecond after sequence 0 is past a near window's end
    # ("<ms>-0"): the older login before the start is found, unless the crowd hid it from the
    # near window (then the wide window finds the later one).
    assert {found[s.field].kind for s in sessions[3::6]} == {"silent", "sms"}
    assert not any(s.field in found for s in sessions[4::6])                  # other device
    assert not any(s.field in found for s in sessions[5::6])


def test_grouped_read_decides_most_of_a_clustered_page(query: SessionQuery, redis_client: Any) -> None:
    sessions = build(redis_client)
    page = sessions[:40]                       # one cluster of starts
    grouped = query._grouped_contexts(page)
    plain = [s for s in page if s.ssid == "" and int(s.session_id[1:]) % 6 in (0, 1)]
    assert all(s.field in grouped for s in plain)
