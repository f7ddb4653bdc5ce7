"""Forged AC packets against the running ``citywifi ac-listener`` process.

A spoofing neighbour on the AC's network (here: another loopback address) sends what an AC would
send. The AC must be recognised by the address a datagram comes from, never by the BAS-IP it
names; authenticators are checked wherever the flavour has them; MAC-trigger queries are answered
only to the AC; silent logins run on a bounded worker pool, so a flood cannot multiply threads.
Every test drives the real process over loopback UDP, with the real Redis behind it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ac_adapters.codec import Attribute, PortalPacket, decode, encode, ip_attr, mac_attr
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.profiles import PROFILES
from portal.aaa.credentials import CredentialStore
from portal.aaa.plans import Plan, PlanStore
from portal.state import keys
from portal.venues.venue_store import Venue, VenueStore
from tests.conftest import free_tcp_port, free_udp_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "forgery-secret-42"
EAG, PLAIN, COMWARE = "127.0.0.1", "127.0.0.3", "127.0.0.4"    # the ACs' own addresses
STRANGER = "127.0.0.66"                                        # the spoofing neighbour
PHONE = "18900000042"


def udp(host: str, port: int = 0, timeout: float = 2.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    sock.settimeout(timeout)
    return sock


def packet(vendor: str, ptype: int, user_ip: str, attrs: tuple[Attribute, ...] = (), *,
           serial: int = 7, secret: str = SECRET, unsigned: bool = False) -> bytes:
    prof = PROFILES[vendor]
    data = encode(PortalPacket(type=ptype, version=prof.version, serial_no=serial, user_ip=user_ip,
                               attrs=attrs), header=prof.header, secret=secret.encode())
    if unsigned:
        data = data[:16] + bytes(16) + data[32:]     # as EAG sends its MAC-trigger messages
    return data


def mac_query(user_ip: str, mac: str, serial: int = 30) -> bytes:
    """An EAG REQ_MACBINDING_INFO (unsigned, spec §1.2) naming the EAG AC's BAS-IP."""
    return packet("autelan", PacketType.REQ_MACBINDING_INFO, user_ip,
                  (mac_attr(AttrType.USER_MAC, mac), ip_attr(AttrType.BAS_IP, EAG)),
                  serial=serial, unsigned=True)


def replies(sock: socket.socket, wait: float, *, first: bool = False) -> list[bytes]:
    """Every datagram ``sock`` receives within ``wait`` seconds (``first``: just the first)."""
    out = []
    end = time.monotonic() + wait
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            out.append(sock.recvfrom(4096)[0])
        except TimeoutError:
            break
        if first:
            break
    sock.settimeout(2.0)
    return out


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


@dataclass
class Listener:
    proc: subprocess.Popen[str]
    port: int
    metrics_port: int
    ac: socket.socket                   # the EAG AC: its portal port (silent logins arrive here)
    socks: dict[str, socket.socket] = field(default_factory=dict)

    def send(self, source: str, data: bytes) -> None:
        self.socks[source].sendto(data, ("127.0.0.1", self.port))

    def threads(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        raise AssertionError("no Threads line")

    def metric(self, name: str, **labels: str) -> float:
        """One sample from the process's /metrics (0 when absent)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        for line in text.splitlines():
            match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
            if match is None or match.group(1) != name:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if found == labels:
                return float(match.group(3))
        return 0.0


def login_record(redis: Any, ac: str, user_ip: str) -> None:
    """The portal's view of a phone online at (AC, user IP), as a login writes it."""
    redis.hset(keys.portal_login(ac, user_ip), mapping={
        "phone": PHONE, "mac": "02:00:00:00:00:01", "plan": "basic", "venue": "mall",
        "at": f"{time.time():.3f}", "kind": "sms"})


@contextmanager
def running_listener(tmp_path: Path, redis_url: str, redis: Any) -> Iterator[Listener]:
    """``citywifi ac-listener`` with three ACs: an EAG (autelan: 32-byte header, unsigned
    MAC-trigger, silent login on), a CMCC AC (16-byte header: nothing signed) and an H3C."""
    ac = udp(EAG)
    port, metrics_port = free_udp_port(), free_tcp_port()
    config = tmp_path / "citywifi.toml"
    config.write_text(f"""
[listener]
metrics_port = {metrics_port}

[portal_client]
timeout = 0.5
retries = 2

[[acs]]
name = "eag"
addresses = ["{EAG}"]
vendor = "autelan"
secret = "{SECRET}"
port = {ac.getsockname()[1]}
mac_auth = true

[[acs]]
name = "plain"
addresses = ["{PLAIN}"]
vendor = "cmcc"
secret = "{SECRET}"

[[acs]]
name = "comware"
addresses = ["{COMWARE}"]
vendor = "h3c"
secret = "{SECRET}"
""", encoding="utf-8")
    plans = PlanStore(redis, cache_ttl=0.0)
    plans.put(Plan(name="basic", title_zh="基础套餐", mac_binding_days=7))
    plans.assign("default", "", "basic")
    VenueStore(redis, cache_ttl=0.0).put(Venue(id="mall", acs=("eag",), silent_mac_login=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update(PYTHONPATH=str(ROOT), CITYWIFI_REDIS_URL=redis_url, CITYWIFI_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "-c", str(config), "ac-listener", "--host", "127.0.0.1",
         "--port", str(port)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    with ExitStack() as stack:
        stack.callback(ac.close)
        socks = {addr: stack.enter_context(udp(addr)) for addr in (EAG, PLAIN, COMWARE, STRANGER)}
        listener = Listener(proc, port, metrics_port, ac, socks)
        try:
            # Ready when the CMCC AC's NTF_LOGOUT (for nobody in particular) is answered.
            probe = packet("cmcc", PacketType.NTF_LOGOUT, "10.99.99.99", serial=1)
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline:
                listener.send(PLAIN, probe)
                if replies(socks[PLAIN], 0.3):
                    break
            else:
                raise AssertionError(f"ac-listener did not come up: {proc.communicate(timeout=5)}")
            yield listener
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


@pytest.fixture
def listener(tmp_path: Path, redis_url: str, redis_client: Any) -> Iterator[Listener]:
    with running_listener(tmp_path, redis_url, redis_client) as running:
        yield running


def test_ntf_logout_from_a_foreign_source_is_ignored(listener: Listener, redis_client: Any) -> None:
    login_record(redis_client, "plain", "10.3.0.7")
    # Unsigned (16-byte flavour), naming the CMCC AC's BAS-IP, from the neighbour's address.
    forged = packet("cmcc", PacketType.NTF_LOGOUT, "10.3.0.7", (ip_attr(AttrType.BAS_IP, PLAIN),))
    for _ in range(3):
        listener.send(STRANGER, forged)
    assert replies(listener.socks[STRANGER], 1.0) == []
    assert redis_client.exists(keys.portal_login("plain", "10.3.0.7")), "a forged NTF_LOGOUT ended a login"
    # The same bytes from the AC itself are its own logout: answered and handled.
    listener.send(PLAIN, forged)
    [ack] = replies(listener.socks[PLAIN], 1.0)
    assert decode(ack, header=16).type == PacketType.ACK_LOGOUT
    assert wait_for(lambda: not redis_client.exists(keys.portal_login("plain", "10.3.0.7")))


def test_bad_authenticators_are_refused(listener: Listener, redis_client: Any) -> None:
    # H3C Portal 2.0 signs everything (32-byte header): MAC-trigger messages included.
    login_record(redis_client, "comware", "10.4.0.8")
    mac = (mac_attr(AttrType.USER_MAC, "02:00:00:00:00:08"),)
    for forged in (
        packet("h3c", PacketType.NTF_LOGOUT, "10.4.0.8", secret="guessed-secret"),
        packet("h3c", PacketType.NTF_USER_LOGOUT, "10.4.0.8", mac, unsigned=True),
        packet("h3c", PacketType.NTF_USER_LOGOUT, "10.4.0.8", mac, secret="guessed-secret"),
        packet("h3c", PacketType.REQ_MACBINDING_INFO, "10.4.0.8", mac, unsigned=True),
    ):
        listener.send(COMWARE, forged)
    assert replies(listener.socks[COMWARE], 1.0) == [], "a packet with a bad authenticator was answered"
    assert redis_client.exists(keys.portal_login("comware", "10.4.0.8")), "an unsigned 0x34 ended a login"
    # Correctly signed, the same notice is the AC's: the login ends.
    listener.send(COMWARE, packet("h3c", PacketType.NTF_USER_LOGOUT, "10.4.0.8", mac))
    assert wait_for(lambda: not redis_client.exists(keys.portal_login("comware", "10.4.0.8")))
    assert listener.metric("citywifi_listener_ac_dropped_total", reason="bad_authenticator",
                           ac="comware") == 4


def test_mac_trigger_from_a_stranger_is_not_answered_and_starts_no_login(
    listener: Listener, redis_client: Any
) -> None:
    CredentialStore(redis_client).bind_mac("02:00:00:00:00:42", PHONE, days=7)
    # The neighbour asks about a bound MAC for an IP of its choosing, naming the EAG's BAS-IP.
    listener.send(STRANGER, mac_query("10.66.0.1", "02:00:00:00:00:42"))
    listener.send(STRANGER, mac_query("10.66.0.2", "02:00:00:00:00:43", serial=31))
    assert replies(listener.socks[STRANGER], 1.0) == [], "MAC-trigger answered to a stranger"
    at_ac = replies(listener.ac, 1.0)
    assert at_ac == [], "a stranger's 0x30 made the portal log someone in"
    # Control: the same question from the AC is answered "bound", to the AC, and the silent
    # login for that user comes to the AC's portal port.
    listener.ac.sendto(mac_query("10.1.0.5", "02:00:00:00:00:42"), ("127.0.0.1", listener.port))
    got = [decode(raw, header=32) for raw in replies(listener.ac, 2.0)]
    answers = [p for p in got if p.type == PacketType.ACK_MACBINDING_INFO]
    assert [(p.err_code, p.user_ip) for p in answers] == [(0, "10.1.0.5")]
    assert any(p.type in (PacketType.REQ_CHALLENGE, PacketType.REQ_AUTH) and p.user_ip == "10.1.0.5"
               for p in got)


def test_flood_keeps_threads_bounded_and_the_real_ac_served(
    listener: Listener, redis_client: Any
) -> None:
    creds = CredentialStore(redis_client)
    macs = [f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}" for i in range(500)]
    for mac in macs:
        creds.bind_mac(mac, PHONE, days=7)
    login_record(redis_client, "eag", "10.1.9.9")
    baseline = listener.threads()
    peak = [baseline]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], listener.threads())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # 500 MAC-trigger queries for 500 bound devices, from the AC's own address (a spoofed
    # source, or an AC gone mad): the worst case, since these pass the source check. Halfway,
    # the real AC logs a user off and must be answered promptly.
    flood = udp(EAG, timeout=5.0)
    answered: list[bytes] = []
    ntf = packet("autelan", PacketType.NTF_LOGOUT, "10.1.9.9", (ip_attr(AttrType.BAS_IP, EAG),), serial=0)
    ack_after = None
    try:
        for i, mac in enumerate(macs):
            flood.sendto(mac_query(f"10.2.{i >> 8}.{i & 255}", mac, serial=i + 1),
                         ("127.0.0.1", listener.port))
            if i == 250:
                started = time.monotonic()
                listener.send(EAG, ntf)
                [ack] = replies(listener.socks[EAG], 3.0, first=True)
                assert decode(ack, header=32).type == PacketType.ACK_LOGOUT
                ack_after = time.monotonic() - started
            # Keep at most ~100 queries in flight: the kernel's socket buffer holds ~250 small
            # datagrams, and a datagram lost there would prove nothing.
            while len(answered) < i + 1 - 100:
                answered.append(flood.recvfrom(4096)[0])
        while len(answered) < len(macs):
            answered.append(flood.recvfrom(4096)[0])
        assert wait_for(lambda: not redis_client.exists(keys.portal_login("eag", "10.1.9.9")))
        time.sleep(1.0)                 # silent logins still running or queued
    finally:
        sampling.set()
        sampler.join()
        flood.close()
    assert ack_after is not None and ack_after < 3.0, "the real AC waited for the flood"
    bound = [raw for raw in answered if decode(raw, header=32).err_code == 0]
    # + 2: the portal client's receive thread, started by the first silent login, and a spare.
    assert peak[0] <= baseline + 2, f"threads went from {baseline} to {peak[0]}"
    assert len(answered) == 500                 # every query answered (to the AC) …
    # … "bound" only while the queue (64 by default) had room; the rest are refused and counted.
    assert 0 < len(bound) < 150
    assert listener.threads() <= baseline + 2
    silent = "citywifi_listener_silent_logins_total"
    assert listener.metric(silent, outcome="queued", ac="eag") == len(bound)
    assert listener.metric(silent, outcome="queue_full", ac="eag") == 500 - len(bound)
