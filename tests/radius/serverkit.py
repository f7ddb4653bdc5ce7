"""Helpers for the RADIUS server tests: a registered AC and plan in real Redis, the full server
running in a thread on free loopback ports, and Debian's radclient/radtest as the client."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.plans import Plan, PlanStore
from portal.commands.radius import build_server
from portal.runtime.settings import RadiusSettings, RedisSettings, Settings
from radius.server import ACCT, AUTH, RadiusServer, bind_udp
from tests.conftest import free_udp_port

SECRET = "s3cret-for-tests-16"
CLASS_KEY = "serverkit-class-key-0123456789abcdef"   # radius.class_key of every server here
PHONE = "13800138000"
MAC = "11-22-33-44-55-66"
HAVE_RADCLIENT = shutil.which("radclient") is not None and shutil.which("radtest") is not None


def register(redis: Any, **ac_fields: Any) -> AcRecord:
    """AC 'ac1' on 127.0.0.1 plus a default plan 'basic' (2 Mbit/s up, 8 Mbit/s down)."""
    fields: dict[str, Any] = {"name": "ac1", "addresses": ("127.0.0.1",), "secret": SECRET}
    fields.update(ac_fields)
    record = AcRecord(**fields)
    AcRegistry(redis).put(record)
    store = PlanStore(redis)
    store.put(Plan(name="basic", up_kbps=2000, down_kbps=8000, session_timeout=7200,
                   idle_timeout=600, interim_interval=300))
    store.assign("default", "", "basic")
    return record


class RunningServer:
    def __init__(self, server: RadiusServer, auth_port: int, acct_port: int) -> None:
        self.server = server
        self.auth_port = auth_port
        self.acct_port = acct_port

    @property
    def metrics(self) -> Any:
        return self.server.metrics


@contextmanager
def running_server(redis_url: str, **radius_fields: Any) -> Iterator[RunningServer]:
    """The full server (build_server) in a thread; stopped and sockets closed on exit."""
    radius_fields.setdefault("class_key", CLASS_KEY)
    settings = Settings(redis=RedisSettings(url=redis_url),
                        radius=dataclasses.replace(RadiusSettings(), ac_cache_ttl=0.0, **radius_fields))
    server = build_server(settings)
    auth_port, acct_port = free_udp_port(), free_udp_port()
    server.add_socket(bind_udp("127.0.0.1", auth_port), AUTH)
    server.add_socket(bind_udp("127.0.0.1", acct_port), ACCT)
    stop = threading.Event()
    thread = threading.Thread(target=server.serve_forever, args=(stop.is_set, 0.05), daemon=True)
    thread.start()
    try:
        yield RunningServer(server, auth_port, acct_port)
    finally:
        stop.set()
        thread.join(5)
        server.close()


def signed_class(phone: str = PHONE, plan: str = "basic", *, ac: str = "ac1",
                 issued: float | None = None, nonce: bytes | None = None) -> bytes:
    """The Class a server of this kit puts in an Access-Accept to ``ac`` (signed with CLASS_KEY)."""
    import time

    from portal.aaa.grants import ClassSigner

    return ClassSigner(CLASS_KEY.encode()).make(phone, plan, time.time() if issued is None else issued,
                                                ac, nonce)


def radclient(port: int, kind: str, attrs: str, *, secret: str = SECRET, timeout: float = 1.0,
              retries: int = 1, extra: tuple[str, ...] = ()) -> str:
    """Run radclient once; return its combined output (it prints the decoded reply)."""
    proc = subprocess.run(
        ["radclient", "-x", "-t", str(timeout), "-r", str(retries), *extra,
         f"127.0.0.1:{port}", kind, secret],
        input=attrs, capture_output=True, text=True, timeout=30,
    )
    return proc.stdout + proc.stderr


def radtest(port: int, user: str, password: str, *, method: str = "pap", secret: str = SECRET) -> str:
    proc = subprocess.run(
        ["radtest", "-t", method, user, password, f"127.0.0.1:{port}", "0", secret],
        capture_output=True, text=True, timeout=30,
    )
    return proc.stdout + proc.stderr


# --- raw UDP exchanges with requests built by pyrad (an independent encoder) -----------------

def dictionary() -> Any:
    from radius.dictionary import load_dictionary

    return load_dictionary()


def access_request(secret: str = SECRET, *, password: str | None = None, ma: bool = True,
                   **attrs: Any) -> Any:
    """A pyrad AuthPacket (Access-Request); ``password`` is hidden with the secret."""
    from pyrad.packet import AuthPacket

    pkt = AuthPacket(secret=secret.encode(), dict=dictionary())
    for key, value in attrs.items():
        pkt[key.replace("_", "-")] = value
    if password is not None:
        pkt["User-Password"] = pkt.PwCrypt(password)
    if ma:
        pkt.add_message_authenticator()
    return pkt


def acct_request(secret: str = SECRET, **attrs: Any) -> Any:
    from pyrad.packet import AcctPacket

    pkt = AcctPacket(secret=secret.encode(), dict=dictionary())
    for key, value in attrs.items():
        pkt[key.replace("_", "-")] = value
    return pkt


def exchange(port: int, data: bytes, *, source: str = "127.0.0.1", timeout: float = 1.0,
             sock: Any = None) -> bytes | None:
    """Send one datagram, return the reply or None after ``timeout``."""
    import socket

    own = sock is None
    if own:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((source, 0))
    try:
        sock.settimeout(timeout)
        sock.sendto(data, ("127.0.0.1", port))
        try:
            return bytes(sock.recv(8192))
        except TimeoutError:
            return None
    finally:
        if own:
            sock.close()


def decode_reply(request: Any, raw: bytes) -> Any:
    """Decode a reply with pyrad and check its authenticators (Response + Message-Authenticator)."""
    reply = request.CreateReply(packet=raw)
    assert request.VerifyReply(reply, raw, enforce_ma=request.code == 1), "reply does not verify"
    return reply
