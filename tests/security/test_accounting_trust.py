"""Accounting believes an AC only about its own sessions, and only what verifies.

The real server (``portal.commands.radius.build_server``, what ``citywifi radius`` runs) on loopback
sockets, real Redis, and Debian's ``radclient`` as the hostile AC. ``ac1`` is 127.0.0.1 (where
radclient sends from); ``ac2`` is 127.0.0.2 (requests built by pyrad, sent from that address).

* A counter of 0xFFFFFFFF with Gigawords 0xFFFFFFFF overflowed inside the Redis script: the
  update was half applied (daily time booked, total not), the request went unanswered, and the
  valid Stops drained in the same batch were stored but not answered, so their retransmissions
  were recorded twice.
* Any registered AC could charge any phone: a Stop naming a phone whose session runs on another
  AC added 86,400 s and 17 GB to that phone's day.
* No plausibility limits: Acct-Delay-Time = 2^32 - 1 (a start in 1890), a Session-Time of 136
  years, more octets than the plan's rate allows — all booked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.grants import make_class
from portal.aaa.sessions import SessionRegistry
from portal.aaa.usage import UsageBook
from portal.state import keys
from tests.radius.serverkit import (
    HAVE_RADCLIENT,
    SECRET,
    RunningServer,
    acct_request,
    exchange,
    radclient,
    register,
    running_server,
    signed_class,
)

pytestmark = pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient (freeradius-utils) not installed")

VICTIM = "18900000001"
OTHERS = ("18900000002", "18900000003", "18900000004")
GIB = 2**32


@pytest.fixture
def srv(redis_client: Any, redis_url: str) -> Iterator[RunningServer]:
    register(redis_client)     # ac1 on 127.0.0.1 and plan "basic": 2 Mbit/s up, 8 Mbit/s down
    AcRegistry(redis_client).put(AcRecord(name="ac2", addresses=("127.0.0.2",), secret=SECRET))
    # batch_wait: what radclient sends at once is drained and stored as one batch.
    with running_server(redis_url, batch_wait=0.01) as server:
        yield server


def packet(status: str, sid: str, phone: str, cls: bytes | None = None, **attrs: Any) -> str:
    """One radclient request (attribute lines); ``cls`` goes into Class as hex."""
    lines = [f"Acct-Status-Type = {status}", f'Acct-Session-Id = "{sid}"', f'User-Name = "{phone}"',
             'Calling-Station-Id = "aa-bb-cc-dd-ee-01"', "Framed-IP-Address = 10.0.0.5"]
    if cls is not None:
        lines.append(f"Class = 0x{cls.hex()}")
    lines += [f"{name.replace('_', '-')} = {value}" for name, value in attrs.items()]
    return "\n".join(lines)


def send(srv: RunningServer, *packets: str) -> int:
    """Send the packets at once (one radclient, all in flight); the number of answers."""
    out = radclient(srv.acct_port, "acct", "\n\n".join(packets) + "\n", timeout=1.0, retries=2,
                    extra=("-p", str(len(packets))))
    return len(re.findall(r"Received Accounting-Response", out))


def usage(redis: Any, phone: str) -> tuple[int, int, int, int]:
    u = UsageBook(redis).get(phone, time.time())
    return u.daily_time, u.daily_volume, u.total_time, u.total_volume


def refusals(redis: Any) -> list[dict[bytes, bytes]]:
    return [f for _, f in redis.xrange(keys.acct_log()) if f[b"k"] == b"rejected"]


def logouts(redis: Any, sid: str) -> int:
    return sum(1 for _, f in redis.xrange(keys.real_name_log())
               if f[b"kind"] == b"logout" and f[b"sid"] == sid.encode())


def test_counter_overflow_does_not_half_apply_or_disturb_the_batch(redis_client: Any,
                                                                   srv: RunningServer) -> None:
    issued = time.time() - 600
    poison = packet("Stop", "ov-1", VICTIM, signed_class(VICTIM, issued=issued),
                    Acct_Session_Time=300, Acct_Input_Octets=GIB - 1, Acct_Input_Gigawords=GIB - 1)
    valid = [packet("Stop", f"ok-{n}", phone, signed_class(phone, issued=issued),
                    Acct_Session_Time=300, Acct_Input_Octets=1000, Acct_Output_Octets=5000)
             for n, phone in enumerate(OTHERS)]
    assert send(srv, valid[0], poison, *valid[1:]) == 4       # every record answered
    # Nothing of the poisoned record was applied (before: 300 s daily time, no total) ...
    assert usage(redis_client, VICTIM) == (0, 0, 0, 0)
    assert redis_client.hlen(keys.usage(VICTIM)) == 0
    (refused,) = refusals(redis_client)
    assert (refused[b"sid"], refused[b"why"], refused[b"in"]) == (b"ov-1", b"counter_range",
                                                                  str(2**64 - 1).encode())
    assert srv.metrics.get("acct_rejected.counter_range.ac1") == 1
    # ... and its neighbours were stored once and answered (no retransmission doubled them).
    for n, phone in enumerate(OTHERS):
        assert usage(redis_client, phone) == (300, 6000, 300, 6000)
        assert logouts(redis_client, f"ok-{n}") == 1
    assert sum(1 for _, f in redis_client.xrange(keys.acct_log()) if f[b"k"] == b"acct") == 3


def test_an_ac_cannot_charge_a_phone_whose_session_runs_on_another_ac(redis_client: Any,
                                                                       srv: RunningServer) -> None:
    # The victim logged in through ac2; ac2 reports the session's Start (signed Class for ac2).
    victim_class = signed_class(VICTIM, ac="ac2", issued=time.time() - 60)
    start = acct_request(Acct_Status_Type=1, Acct_Session_Id="v-1", User_Name=VICTIM,
                         Class=victim_class, Calling_Station_Id="aa-bb-cc-dd-ee-09")
    assert exchange(srv.acct_port, start.RequestPacket(), source="127.0.0.2") is not None
    assert SessionRegistry(redis_client).get("ac2", "v-1") is not None

    # ac1 (radclient) claims a day online and 17 GB for that phone, four ways.
    day = {"Acct_Session_Time": 86_400, "Acct_Input_Octets": 0, "Acct_Input_Gigawords": 4}
    forged = victim_class.rsplit(b"|", 1)[0] + b"|" + b"0" * 32
    attacks = [
        packet("Stop", "v-1", VICTIM, victim_class, **day),                    # ac2's Class, copied
        packet("Stop", "x-2", VICTIM, forged, **day),                          # a made-up signature
        packet("Stop", "x-3", VICTIM, make_class(VICTIM, "basic", time.time() - 86_500), **day),
        packet("Stop", "x-4", VICTIM, None, **day),                            # User-Name only
    ]
    assert send(srv, *attacks) == 4      # answered (retrying would not make them true) ...
    assert usage(redis_client, VICTIM) == (0, 0, 0, 0)                       # ... not booked
    assert sorted(f[b"why"] for f in refusals(redis_client)) == [
        b"class_invalid", b"class_invalid", b"unbound", b"unbound"]
    assert srv.metrics.get("acct_rejected.class_invalid.ac1") == 2
    assert srv.metrics.get("acct_rejected.unbound.ac1") == 2
    assert redis_client.hget(keys.ac_stats("ac1"), "acct_rejected:unbound") == b"2"
    assert logouts(redis_client, "v-1") == 0
    assert SessionRegistry(redis_client).get("ac2", "v-1") is not None       # still online

    # The login's own AC books its own session, but the login backs that session only.
    interim = acct_request(Acct_Status_Type=3, Acct_Session_Id="v-1", User_Name=VICTIM,
                           Class=victim_class, Acct_Session_Time=30, Acct_Input_Octets=100,
                           Acct_Output_Octets=200)
    assert exchange(srv.acct_port, interim.RequestPacket(), source="127.0.0.2") is not None
    assert usage(redis_client, VICTIM) == (30, 300, 30, 300)
    second = acct_request(Acct_Status_Type=2, Acct_Session_Id="v-2", User_Name=VICTIM,
                          Class=victim_class, Acct_Session_Time=40, Acct_Input_Octets=10_000)
    assert exchange(srv.acct_port, second.RequestPacket(), source="127.0.0.2") is not None
    assert usage(redis_client, VICTIM) == (30, 300, 30, 300)
    assert refusals(redis_client)[-1][b"why"] == b"login_reused"
    assert srv.metrics.get("acct_rejected.login_reused.ac2") == 1


def test_values_that_cannot_be_true_are_refused_and_kept_for_the_noc(redis_client: Any,
                                                                      srv: RunningServer) -> None:
    phone = OTHERS[0]
    cls = signed_class(phone, issued=time.time() - 600)      # logged in ten minutes ago
    assert send(srv, packet("Start", "p-1", phone, cls)) == 1
    impossible = [
        packet("Interim-Update", "p-1", phone, cls, Acct_Delay_Time=2**32 - 1,
               Acct_Session_Time=60),                                         # started in 1890
        packet("Interim-Update", "p-1", phone, cls, Acct_Session_Time=2**32 - 1),   # 136 years
        packet("Interim-Update", "p-1", phone, cls, Acct_Session_Time=1200),  # before the login
        packet("Interim-Update", "p-1", phone, cls, Acct_Session_Time=500),   # 500 s in 1 s
        packet("Interim-Update", "p-1", phone, cls, Acct_Session_Time=2,      # 2 GB in 2 s at
               Acct_Output_Octets=2 * 10**9),                                 # 8 Mbit/s
    ]
    assert send(srv, *impossible) == len(impossible)
    assert usage(redis_client, phone) == (0, 0, 0, 0)
    why = {f[b"why"]: f for f in refusals(redis_client)}
    assert set(why) == {b"delay", b"session_time", b"before_login", b"time_ahead", b"rate_out"}
    assert why[b"delay"][b"dly"] == str(2**32 - 1).encode()                 # the raw record
    assert why[b"session_time"][b"t"] == str(2**32 - 1).encode()
    for reason in ("delay", "session_time", "before_login", "time_ahead", "rate_out"):
        assert srv.metrics.get(f"acct_rejected.{reason}.ac1") == 1
    session = SessionRegistry(redis_client).get("ac1", "p-1")
    assert session is not None and session.session_time == 0               # untouched
    # What can be true is booked as before.
    assert send(srv, packet("Interim-Update", "p-1", phone, cls, Acct_Session_Time=1,
                            Acct_Input_Octets=1000, Acct_Output_Octets=200_000)) == 1
    assert usage(redis_client, phone) == (1, 201_000, 1, 201_000)
