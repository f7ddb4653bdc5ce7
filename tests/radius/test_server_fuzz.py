"""Hostile input over real UDP: random bytes, mutated requests, unknown clients, bad
Message-Authenticators and oversized datagrams. Every datagram is either answered or dropped
with a counted reason, and the server still answers a valid request afterwards."""

from __future__ import annotations

import random
import socket
import time
from typing import Any

from pyrad.packet import AccessAccept

from portal.aaa.credentials import CredentialStore
from tests.radius.serverkit import (
    MAC,
    PHONE,
    RunningServer,
    access_request,
    decode_reply,
    exchange,
    register,
    running_server,
)


def blast(srv: RunningServer, packets: list[bytes], source: str = "127.0.0.1",
          port: int | None = None) -> None:
    """Send in small bursts, waiting until the server has received each burst (no kernel drops)."""
    port = port or srv.auth_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.setblocking(False)
        for i in range(0, len(packets), 100):
            before = srv.metrics.get("rx.auth") + srv.metrics.get("rx.acct")
            burst = packets[i : i + 100]
            for data in burst:
                sock.sendto(data, ("127.0.0.1", port))
            deadline = time.monotonic() + 10
            # Wait until every datagram was received AND finished (counted as answered or dropped):
            # the server thread bumps rx before it decides.
            while (srv.metrics.get("rx.auth") + srv.metrics.get("rx.acct") < before + len(burst)
                   or accounted(srv) < before + len(burst)):
                assert time.monotonic() < deadline, "server stopped receiving"
                time.sleep(0.002)
            # Drain any replies so our socket buffer never fills.
            while True:
                try:
                    sock.recv(8192)
                except BlockingIOError:
                    break


def accounted(srv: RunningServer) -> int:
    m = srv.metrics
    return (m.total("drop.") + m.get("auth.accept") + m.get("auth.reject") + m.get("acct.ok")
            + m.get("status_server") + m.get("duplicate.replayed"))


def mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    choice = rng.randrange(6)
    if choice == 0:                               # bit flips anywhere
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif choice == 1:                             # truncate
        data = data[: rng.randrange(len(data))]
    elif choice == 2:                             # lie in the Length field
        data[2:4] = rng.randrange(65536).to_bytes(2, "big")
    elif choice == 3:                             # corrupt an attribute length
        pos = 20
        targets = []
        while pos + 1 < len(data) and data[pos + 1] >= 2:
            targets.append(pos + 1)
            pos += data[pos + 1]
        if targets:
            data[rng.choice(targets)] = rng.randrange(256)
    elif choice == 4:                             # splice random junk in the middle
        at = rng.randrange(20, len(data))
        data[at:at] = rng.randbytes(rng.randint(1, 40))
    else:                                         # zero-length VSA / unknown attributes
        data += bytes([26, 6, 0, 0, 7, 219]) if rng.random() < 0.5 else bytes([rng.randint(192, 255), 2])
        data[2:4] = len(data).to_bytes(2, "big")
    return bytes(data)


def test_hostile_input_is_dropped_counted_and_server_keeps_serving(
    redis_client: Any, redis_url: str
) -> None:
    register(redis_client)
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    rng = random.Random(1234)
    valid = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
    valid_raw = valid.RequestPacket()
    with running_server(redis_url) as srv:
        # 0. the AC signs its requests (require_message_authenticator = auto learns that): a
        # mutant that lost its Message-Authenticator is then no valid request any more
        first = exchange(srv.auth_port, valid_raw)
        assert first is not None and decode_reply(valid, first).code == AccessAccept
        # 1. random datagrams
        blast(srv, [rng.randbytes(rng.randint(0, 600)) for _ in range(1000)])
        # 2. mutated valid requests
        # (a "mutation" that happens to restore the original bytes is a valid request, so skip it)
        mutants = [m for m in (mutate(rng, valid_raw) for _ in range(1600)) if m != valid_raw][:1500]
        blast(srv, mutants)
        # 3. well-formed requests from an address that is no AC
        unknown_before = srv.metrics.get("drop.unknown_client")
        blast(srv, [access_request(User_Name=PHONE, password="x").RequestPacket() for _ in range(300)],
              source="127.0.0.2")
        assert srv.metrics.get("drop.unknown_client") - unknown_before == 300
        # 4. signed with the wrong secret
        bad_before = srv.metrics.get("drop.bad_message_authenticator")
        blast(srv, [access_request("wrong-secret", User_Name=PHONE, password="x").RequestPacket()
                    for _ in range(300)])
        assert srv.metrics.get("drop.bad_message_authenticator") - bad_before == 300
        # 5. oversized datagrams (the socket reads 4097 octets, so these are detectable)
        blast(srv, [valid_raw[:4] + rng.randbytes(5000) for _ in range(20)])
        assert srv.metrics.get("drop.oversized") >= 20
        # 6. random junk at the accounting port
        blast(srv, [rng.randbytes(rng.randint(0, 300)) for _ in range(300)], port=srv.acct_port)

        received = srv.metrics.get("rx.auth") + srv.metrics.get("rx.acct")
        assert received == 1 + 1000 + 1500 + 300 + 300 + 20 + 300
        assert accounted(srv) == received, srv.metrics.snapshot()
        assert srv.metrics.get("auth.accept") == 1      # nothing hostile got in
        assert srv.metrics.get("drop.malformed") > 500
        # Still serving.
        fresh = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
        reply = exchange(srv.auth_port, fresh.RequestPacket())
        assert reply is not None and decode_reply(fresh, reply).code == AccessAccept
