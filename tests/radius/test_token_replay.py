"""A login token's first Accept is repeatable for the same AC, device and token
for a short while, on any node — so an AC that lost the Accept and fails over to the second
RADIUS node, or retries from a new source port, gets the same Accept instead of "reused".

Two real ``citywifi radius`` processes share one Redis. Between the client and them sits a lossy
path (``LossyFailover``): the first try goes to node 1 and its Accept is lost, the retry goes to
node 2. Clients: Debian's radclient (an independent implementation, which re-sends the identical
packet) and the AC simulator's RADIUS client with its server group (fails over on its own).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyrad.packet import AccessAccept, AccessReject, AuthPacket

from ac_adapters.simulator.radius_client import RadiusClient
from portal.aaa.credentials import CredentialStore
from portal.state import keys
from portal.state.embedded import EmbeddedRedis
from radius.auth import AuthPolicy
from radius.wire import Code
from tests.conftest import free_udp_port
from tests.radius.serverkit import HAVE_RADCLIENT, PHONE, SECRET, radclient, register

ROOT = Path(__file__).resolve().parents[2]
MAC = "02-aa-bb-cc-dd-01"
OTHER_MAC = "02-aa-bb-cc-dd-02"
WINDOW = 4.0      # radius.token_replay_window of the nodes (seconds)


class Node:
    """One ``citywifi radius`` process (one worker) on loopback."""

    def __init__(self, redis_url: str, data: Path, **settings: str) -> None:
        """``settings``: more CITYWIFI_* variables (e.g. CITYWIFI_RADIUS_WORKERS="2")."""
        self.auth_port, self.acct_port = free_udp_port(), free_udp_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
        env.update(PYTHONPATH=str(ROOT), CITYWIFI_DATA_DIR=str(data), CITYWIFI_REDIS_URL=redis_url,
                   CITYWIFI_RADIUS_WORKERS="1", CITYWIFI_RADIUS_AC_CACHE_TTL="0",
                   CITYWIFI_QUOTA_PLAN_CACHE_TTL="0", CITYWIFI_RADIUS_TOKEN_REPLAY_WINDOW=str(WINDOW))
        env.update(settings)
        data.mkdir(parents=True, exist_ok=True)
        self.log = data / "radius.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "portal.cli", "radius", "--host", "127.0.0.1",
                 "--auth-port", str(self.auth_port), "--acct-port", str(self.acct_port)],
                cwd=data, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until it answers Status-Server (it does only once Redis is reachable)."""
        from radius.dictionary import load_dictionary

        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.3)
            while time.monotonic() < deadline:
                pkt = AuthPacket(code=12, secret=SECRET.encode(), dict=load_dictionary())
                pkt.add_message_authenticator()
                sock.sendto(pkt.RequestPacket(), ("127.0.0.1", self.auth_port))
                with contextlib.suppress(OSError):
                    if sock.recv(4096):
                        return
        raise AssertionError(f"node on {self.auth_port} did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


class LossyFailover:
    """A UDP path for one client: its first datagram goes to ``first`` and the reply is lost
    (kept in ``lost``); every later one goes to ``second``, whose replies are delivered."""

    def __init__(self, first: int, second: int, *, deliver_first: bool = False) -> None:
        self.client_side = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client_side.bind(("127.0.0.1", 0))
        self.port = self.client_side.getsockname()[1]
        self.upstreams = []
        for _ in (first, second):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            self.upstreams.append(s)
        self.targets = (first, second)
        self.deliver_first = deliver_first
        self.lost: list[bytes] = []
        self.delivered: list[bytes] = []
        self.requests = 0
        self._stop = threading.Event()
        self._client: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        socks = [self.client_side, *self.upstreams]
        while not self._stop.is_set():
            ready, _, _ = select.select(socks, [], [], 0.05)
            for sock in ready:
                data, addr = sock.recvfrom(8192)
                if sock is self.client_side:
                    self._client = addr
                    which = 0 if self.requests == 0 else 1
                    self.requests += 1
                    self.upstreams[which].sendto(data, ("127.0.0.1", self.targets[which]))
                elif sock is self.upstreams[0] and not self.deliver_first:
                    self.lost.append(data)          # the Accept that never reaches the AC
                else:
                    self.delivered.append(data)
                    self.client_side.sendto(data, self._client)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for s in (self.client_side, *self.upstreams):
            s.close()


@pytest.fixture(scope="module")
def nodes(redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    import redis

    root = tmp_path_factory.mktemp("replay-nodes")
    started = [Node(redis_server.url, root / f"node{i}") for i in range(2)]
    try:
        with redis.Redis.from_url(redis_server.url) as client:
            # An earlier module's test may have left its ACs (the server is per session and
            # redis_client empties it before a test, not after): one on 127.0.0.1 refuses ours.
            client.flushall()
            register(client)      # to answer the readiness probe (each test registers again)
        for node in started:
            node.wait_ready()
        yield started
    finally:
        for node in started:
            node.stop()


def auth_attrs(password: str, mac: str = MAC) -> str:
    return (f'User-Name="{PHONE}", User-Password="{password}", Calling-Station-Id="{mac}", '
            "Message-Authenticator=0x00")


@pytest.mark.needs_radclient
@pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient not installed")
def test_radclient_failing_over_after_a_lost_accept_gets_the_same_accept(
        nodes: list[Node], redis_client: Any) -> None:
    register(redis_client)
    token = CredentialStore(redis_client).mint_login_token(PHONE, mac=MAC)
    path = LossyFailover(nodes[0].auth_port, nodes[1].auth_port)
    try:
        out = radclient(path.port, "auth", auth_attrs(token.password), timeout=1.0, retries=3)
    finally:
        path.close()
    assert "Received Access-Accept" in out, out + nodes[1].log.read_text()
    assert path.requests == 2 and len(path.lost) == 1 and len(path.delivered) == 1
    # The same request got the same Accept from the other node: byte for byte (same attributes,
    # Class included, so accounting ties to one login).
    assert path.delivered[0] == path.lost[0]
    assert path.lost[0][0] == Code.ACCESS_ACCEPT
    assert not redis_client.hexists(keys.login_tokens(PHONE), token.password)
    # Another device presenting the spent token is still refused, on either node.
    for node in nodes:
        other = radclient(node.auth_port, "auth", auth_attrs(token.password, OTHER_MAC))
        assert "Received Access-Reject" in other and "already used" in other, other
    # So is the same device once the window has passed.
    time.sleep(WINDOW + 0.5)
    late = radclient(nodes[1].auth_port, "auth", auth_attrs(token.password))
    assert "Received Access-Reject" in late and "already used" in late, late


def test_simulated_ac_chap_retry_on_its_second_server_is_accepted(nodes: list[Node],
                                                                  redis_client: Any) -> None:
    """The AC simulator's server group (nodes[1] as its fallback) with CHAP, as Portal ACs send
    it: the first node's Accept is lost, the retransmission fails over and is accepted."""
    register(redis_client)
    token = CredentialStore(redis_client).mint_login_token(PHONE, mac=MAC)
    path = LossyFailover(nodes[0].auth_port, nodes[1].auth_port)
    client = RadiusClient("127.0.0.1", secret=SECRET.encode(), auth_port=path.port,
                          acct_port=nodes[0].acct_port, timeout=0.7, retries=3,
                          fallbacks=(("127.0.0.1", nodes[1].auth_port, nodes[1].acct_port),)).start()
    got: list[Any] = []
    done = threading.Event()
    try:
        pkt = client.auth_packet()
        challenge = os.urandom(16)
        pkt["User-Name"] = PHONE
        pkt["Calling-Station-Id"] = MAC
        pkt["CHAP-Challenge"] = challenge
        pkt["CHAP-Password"] = b"\x07" + hashlib.md5(b"\x07" + token.password.encode() + challenge).digest()
        client.send(pkt, lambda reply: (got.append(reply), done.set()))
        assert done.wait(10)
    finally:
        client.stop()
        path.close()
    assert got and got[0] is not None and got[0].code == AccessAccept
    assert client.stats["failovers"] == 1 and len(path.lost) == 1
    assert got[0]["Class"] == AuthPacket(packet=path.lost[0], secret=SECRET.encode(),
                                         dict=client.dict)["Class"]


def test_redis_py_path_repeats_the_accept_too(redis_client: Any) -> None:
    """Without the one-round-trip client (Sentinel, Cluster) the policy takes the redis-py path:
    same rule — same AC and device within the window get the first Accept, nothing else does."""
    from portal.aaa.acs import AcRegistry
    from portal.aaa.authorizer import Authorizer
    from portal.runtime.settings import QuotaSettings
    from radius import wire

    register(redis_client)
    ac = AcRegistry(redis_client).get("ac1")
    secret = SECRET.encode()
    token = CredentialStore(redis_client).mint_login_token(PHONE, mac=MAC)
    policy = AuthPolicy(redis_client, Authorizer(redis_client, QuotaSettings(plan_cache_ttl=0)),
                        token_replay_window=WINDOW)

    def ask(mac: str, ac_record: Any = ac) -> Any:
        authenticator = os.urandom(16)
        hidden = wire.encrypt_password(token.password.encode(), secret, authenticator)
        attrs = [(1, PHONE.encode()), (2, hidden), (31, mac.encode())]
        body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attrs)
        raw = bytes((1, 7)) + (20 + len(body)).to_bytes(2, "big") + authenticator + body
        return policy.handle_auth(wire.decode(raw), ac_record, secret, time.time())

    first = ask(MAC)
    assert first.code == AccessAccept
    again = ask(MAC)
    assert again.code == AccessAccept and again.attrs == first.attrs
    assert ask(OTHER_MAC).code == AccessReject
    import dataclasses

    other_ac = dataclasses.replace(ac, name="ac2", addresses=("192.0.2.2",))
    assert ask(MAC, other_ac).code == AccessReject       # the same device on another AC: no
