"""Issue 15 item 6: Debian's FreeRADIUS 3.2 as a RADIUS proxy in front of citywifi.

The FreeRADIUS configuration is the one docs/integration/radius-proxy.md documents: the test
reads its ``clients.conf``, ``proxy.conf`` and site blocks from that page and changes only
addresses and ports (to loopback ones), so the page cannot drift from what works. The rest of
the server is a copy of the stock ``/etc/freeradius/3.0``, as the page says.

Two ACs sit behind the proxy: ``ac-a`` (huawei-v2, named by NAS-IP-Address 127.0.0.21) and
``ac-b`` (h3c, named by NAS-Identifier only). Debian's radclient plays each AC, sending from the
AC's own loopback address (``Packet-Src-IP-Address``) with the secret it shares with the proxy;
every packet reaches citywifi from the proxy's address. The ACs' Disconnect servers are
``FakeDmServer`` instances on 127.0.0.21 / 127.0.0.22 that find sessions by string comparison.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.credentials import CredentialStore
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import SessionRegistry
from portal.aaa.usage import UsageBook
from portal.noc.kick import NocActions
from portal.state import keys
from radius.enforcement import Enforcer
from tests.ac_adapters.freeradius import BINARY, SOURCE, _wait_listening
from tests.conftest import free_udp_port
from tests.e2e.stack import wait_for
from tests.fakes.dm_server import FakeDmServer
from tests.radius.serverkit import HAVE_RADCLIENT, running_server

pytestmark = [
    pytest.mark.needs_freeradius,
    pytest.mark.needs_radclient,
    pytest.mark.skipif(not (SOURCE.is_dir() and Path(BINARY).exists() and HAVE_RADCLIENT),
                       reason="Debian's freeradius and radclient are not installed"),
]

DOC = Path(__file__).resolve().parents[2] / "docs" / "integration" / "radius-proxy.md"
BLOCK = re.compile(r"^<!-- freeradius:(\S+) -->\n```text\n(.*?)^```", re.MULTILINE | re.DOTALL)

# The page's addresses → loopback ones (each must occur in the page).
ADDRESSES = {"203.0.113.5": "127.0.0.1", "198.51.100.21": "127.0.0.21", "198.51.100.22": "127.0.0.22"}
PROXY_SECRET = "proxy-to-citywifi-secret"            # the proxy record's secret in citywifi
NAS_SECRET = {"ac-a": "ac-a-to-proxy-secret", "ac-b": "ac-b-to-proxy-secret"}
PHONE_A, PHONE_B = "13800138001", "13800138002"
MAC_A, MAC_B = "AA-BB-CC-00-06-01", "AA-BB-CC-00-06-02"


def doc_blocks() -> dict[str, str]:
    """The FreeRADIUS files the page documents: file name → text."""
    blocks = {m.group(1): m.group(2) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))}
    assert set(blocks) == {"clients.conf", "proxy.conf", "sites-enabled/citywifi-proxy"}, blocks
    return blocks


def localise(text: str, ports: dict[str, int]) -> str:
    """The page's text with loopback addresses and the test's ports. ``ports`` is keyed by
    ``home_server`` name or ``listen:<type>``; every key must be used."""
    for doc_addr, addr in ADDRESSES.items():
        text = text.replace(doc_addr, addr)
    text = text.replace("ipaddr = *", "ipaddr = 127.0.0.1")
    out, section, used = [], "", set()
    for line in text.splitlines():
        stripped = line.strip()
        header = re.match(r"(home_server|listen)\s*(\S*)\s*\{$", stripped)
        kind = re.match(r"type = (\w+)$", stripped)
        if header:
            section = header.group(2) if header.group(1) == "home_server" else "listen"
        elif section == "listen" and kind:
            section = f"listen:{kind.group(1)}"
        elif stripped.startswith("port = ") and section in ports:
            line = line.replace(stripped, f"port = {ports[section]}")
            used.add(section)
        out.append(line)
    return "\n".join(out) + "\n"


@dataclass
class Proxy:
    directory: Path
    process: subprocess.Popen[bytes]
    auth_port: int
    acct_port: int
    coa_port: int

    def log(self) -> str:
        return (self.directory / "stdout.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_proxy(tmp: Path, citywifi_auth: int, citywifi_acct: int, nas_coa: dict[str, int],
                site_edit: tuple[str, str] | None = None) -> Proxy:
    """A stock FreeRADIUS copy with the page's three files, in debug mode (its log shows
    where each packet went). ``site_edit``: (old, new) text replaced once in the site."""
    directory = tmp / "raddb"
    shutil.copytree(SOURCE, directory, symlinks=True)
    conf = directory / "radiusd.conf"
    text = conf.read_text()
    text = re.sub(r"(?m)^raddbdir = .*$", f"raddbdir = {directory}", text)
    text = re.sub(r"(?m)^logdir = .*$", f"logdir = {directory}/log", text)
    text = re.sub(r"(?m)^run_dir = .*$", f"run_dir = {directory}/run", text)
    text = re.sub(r"(?m)^(\s*)(user|group) = ", r"\1#\2 = ", text)
    conf.write_text(text)
    (directory / "log").mkdir(exist_ok=True)
    (directory / "run").mkdir(exist_ok=True)
    # As the page says: the stock sites' listeners would take the same ports, and the eap
    # module refuses to start without their Auth-Type EAP section.
    for name in ("sites-enabled/default", "sites-enabled/inner-tunnel", "mods-enabled/eap"):
        (directory / name).unlink(missing_ok=True)
    auth, acct, coa = free_udp_port(), free_udp_port(), free_udp_port()
    ports = {"listen:auth": auth, "listen:acct": acct, "listen:coa": coa,
             "citywifi-auth": citywifi_auth, "citywifi-acct": citywifi_acct,
             **{f"coa-{name}": port for name, port in nas_coa.items()}}
    for name, block in doc_blocks().items():
        if site_edit is not None and name.startswith("sites-enabled/"):
            assert site_edit[0] in block
            block = block.replace(site_edit[0], site_edit[1], 1)
        (directory / name).write_text(localise(block, ports))
    log = open(directory / "stdout.log", "wb")   # noqa: SIM115 - kept open for the child's lifetime
    process = subprocess.Popen([BINARY, "-X", "-d", str(directory)], stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    proxy = Proxy(directory, process, auth, acct, coa)
    try:
        _wait_listening(process, coa)
    except Exception:
        proxy.stop()
        raise RuntimeError(f"freeradius failed to start:\n{proxy.log()[-3000:]}") from None
    return proxy


def radclient(port: int, kind: str, nas: str, attrs: list[str]) -> str:
    """One request from AC ``nas`` (its loopback address and secret) to the proxy."""
    source = ADDRESSES["198.51.100.21" if nas == "ac-a" else "198.51.100.22"]
    body = "\n".join([f"Packet-Src-IP-Address = {source}", *attrs]) + "\n"
    proc = subprocess.run(["radclient", "-x", "-t", "3", "-r", "2", f"127.0.0.1:{port}", kind,
                           NAS_SECRET[nas]], input=body, capture_output=True, text=True, timeout=30)
    return proc.stdout + proc.stderr


def class_of(output: str) -> str:
    found = re.findall(r"Class = (0x[0-9a-f]+)", output)
    assert found, output
    return found[-1]


@dataclass
class Stack:
    redis: Any
    server: Any
    proxy: Proxy
    nas: dict[str, FakeDmServer]

    def login(self, nas: str, phone: str, mac: str, ident: list[str]) -> str:
        token = CredentialStore(self.redis).mint_login_token(phone, mac=mac)
        return radclient(self.proxy.auth_port, "auth", nas, [
            f"User-Name = {phone}", f'User-Password = "{token.password}"',
            f"Calling-Station-Id = {mac}", "Message-Authenticator = 0x00", *ident])

    def acct(self, nas: str, status: str, phone: str, mac: str, sid: str, klass: str,
             ident: list[str], octets: int = 0) -> str:
        return radclient(self.proxy.acct_port, "acct", nas, [
            f"Acct-Status-Type = {status}", f"User-Name = {phone}", f"Acct-Session-Id = {sid}",
            f"Calling-Station-Id = {mac}", f"Class = {klass}", "Framed-IP-Address = 10.6.0.1",
            f"Acct-Session-Time = {octets // 1000}", f"Acct-Input-Octets = {octets}",
            f"Acct-Output-Octets = {octets}", *ident])

    def kick(self, ac: str, sid: str) -> Any:
        enforcer = Enforcer(self.redis, timeout=2.0, retries=2, portal_logout=lambda *a: False)
        noc = NocActions(self.redis, enforcer, plans=PlanStore(self.redis), usage=UsageBook(self.redis))
        return noc.kick_session(ac, sid)


IDENT_A = ["NAS-IP-Address = 127.0.0.21"]
IDENT_B = ["NAS-Identifier = ac-b"]


# What the page warns against: choosing the route in recv-coa with Proxy-To-Realm.
PROXY_TO_REALM_IN_RECV_COA = ('&Home-Server-Pool := "coa-ac-a"', '&Proxy-To-Realm := "citywifi"')


@pytest.fixture
def stack(request: pytest.FixtureRequest, redis_client: Any, redis_url: str,
          tmp_path: Path) -> Iterator[Stack]:
    with (FakeDmServer(NAS_SECRET["ac-a"].encode(), host="127.0.0.21") as nas_a,
          FakeDmServer(NAS_SECRET["ac-b"].encode(), host="127.0.0.22") as nas_b,
          running_server(redis_url) as server):
        proxy = start_proxy(tmp_path, server.auth_port, server.acct_port,
                            {"ac-a": nas_a.port, "ac-b": nas_b.port},
                            getattr(request, "param", None))
        try:
            reg = AcRegistry(redis_client)
            reg.put(AcRecord(name="proxy1", addresses=("127.0.0.1",), secret=PROXY_SECRET,
                             radius_proxy=True, coa_port=proxy.coa_port))
            reg.put(AcRecord(name="ac-a", addresses=("127.0.0.21",), secret=NAS_SECRET["ac-a"],
                             radius_via="proxy1", dm_via_proxy=True, coa_port=nas_a.port))
            reg.put(AcRecord(name="ac-b", addresses=("127.0.0.22",), secret=NAS_SECRET["ac-b"],
                             vendor="h3c", radius_via="proxy1", dm_via_proxy=True, coa_port=nas_b.port))
            plans = PlanStore(redis_client)
            plans.put(Plan(name="basic", up_kbps=2000, down_kbps=8000, session_timeout=7200,
                           interim_interval=300))
            plans.assign("default", "", "basic")
            yield Stack(redis_client, server, proxy, {"ac-a": nas_a, "ac-b": nas_b})
        finally:
            proxy.stop()


def test_each_ac_behind_freeradius_keeps_its_dialect_accounting_and_disconnect(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="radius.enforcement")
    # -- authentication: each AC gets its own reply dialect through the proxy
    out_a = stack.login("ac-a", PHONE_A, MAC_A, IDENT_A)
    assert "Received Access-Accept" in out_a, out_a + stack.proxy.log()[-3000:]
    assert "Huawei-Input-Average-Rate = 2000000" in out_a and "H3C-" not in out_a
    out_b = stack.login("ac-b", PHONE_B, MAC_B, IDENT_B)
    assert "Received Access-Accept" in out_b, out_b
    assert "H3C-Input-Average-Rate = 2000000" in out_b and "Huawei-" not in out_b
    klass_a, klass_b = class_of(out_a), class_of(out_b)

    # -- accounting: Start / Interim / Stop land on the AC that sent them
    for status, octets in (("Start", 0), ("Interim-Update", 50_000), ("Stop", 90_000)):
        out = stack.acct("ac-b", status, PHONE_B, MAC_B, "b-1", klass_b, IDENT_B, octets)
        assert "Received Accounting-Response" in out, out
        if status == "Interim-Update":
            assert stack.redis.hexists(keys.phone_sessions(PHONE_B), "ac-b|b-1")
            (live,) = SessionRegistry(stack.redis).by_phone(PHONE_B)
            assert (live.ac, live.nas_id("ni")) == ("ac-b", "ac-b")
    assert not stack.redis.hexists(keys.phone_sessions(PHONE_B), "ac-b|b-1")   # the Stop closed it
    assert UsageBook(stack.redis).get(PHONE_B, time.time()).total_volume == 180_000
    # Three more sessions (one login each) for the kicks below.
    for nas, phone, mac, sid, ident, klass in (
            ("ac-a", PHONE_A, MAC_A, "a-1", IDENT_A, klass_a), ("ac-a", PHONE_A, MAC_A, "a-2", IDENT_A, ""),
            ("ac-b", PHONE_B, MAC_B, "b-2", IDENT_B, "")):
        klass = klass or class_of(stack.login(nas, phone, mac, ident))
        out = stack.acct(nas, "Start", phone, mac, sid, klass, ident)
        assert "Received Accounting-Response" in out, out
    assert {(s.ac, s.session_id) for s in SessionRegistry(stack.redis).by_phone(PHONE_A)} == {
        ("ac-a", "a-1"), ("ac-a", "a-2")}
    assert stack.server.metrics.get("ac_drop.unknown_nas_behind_proxy.proxy1") == 0

    # -- a NOC kick relayed by FreeRADIUS (dm_via_proxy): recv-coa picks the NAS's pool
    nas_a, nas_b = stack.nas["ac-a"], stack.nas["ac-b"]
    kicked = stack.kick("ac-a", "a-1")
    assert (kicked.ok, kicked.outcome) == (True, "dm"), kicked
    assert len(nas_a.received) == 1 and nas_b.received == [] and nas_a.bad == 0
    assert nas_a.attr(0, "NAS-IP-Address") == "127.0.0.21"
    assert nas_a.attr(0, "Acct-Session-Id") == "a-1"
    assert nas_a.attr(0, "Calling-Station-Id") == MAC_A          # as the AC sent it
    assert nas_a.received[0].get("Proxy-State"), "not relayed by the proxy"
    # Debian's FreeRADIUS 3.2.1 signs the relayed ACK's Message-Authenticator the pre-3.2.4 way.
    assert "RADIUS proxy proxy1 signs the Message-Authenticator" in caplog.text
    # ac-b sent no NAS-IP-Address: the h3c dialect's Disconnect names the AC by its record's
    # address, which is what the proxy routes on.
    kicked = stack.kick("ac-b", "b-2")
    assert (kicked.ok, kicked.outcome) == (True, "dm"), kicked
    assert len(nas_b.received) == 1 and nas_b.attr(0, "NAS-IP-Address") == "127.0.0.22"
    assert nas_b.attr(0, "Acct-Session-Id") == "b-2" and nas_b.bad == 0
    assert nas_b.received[0].get("Proxy-State")
    relayed = stack.proxy.log().count("Sent Disconnect-Request")

    # -- dm_via_proxy = false: straight to the NAS with its own secret, the proxy sees nothing
    reg = AcRegistry(stack.redis)
    reg.put(dataclasses.replace(reg.get("ac-a"), dm_via_proxy=False))
    kicked = stack.kick("ac-a", "a-2")
    assert (kicked.ok, kicked.outcome) == (True, "dm"), kicked
    assert len(nas_a.received) == 2 and nas_a.attr(1, "Acct-Session-Id") == "a-2"
    assert not nas_a.received[1].get("Proxy-State")
    assert nas_a.attr(1, "NAS-IP-Address") == "127.0.0.21"
    time.sleep(0.2)
    assert stack.proxy.log().count("Sent Disconnect-Request") == relayed
    assert SessionRegistry(stack.redis).by_phone(PHONE_A) == []


def test_a_dropped_request_makes_freeradius_check_status_server_which_citywifi_answers(
        stack: Stack) -> None:
    """A NAS citywifi cannot place behind the proxy is dropped (counted); FreeRADIUS, hearing
    nothing, marks citywifi zombie and sends Status-Server, which citywifi answers."""
    out = stack.login("ac-a", PHONE_A, MAC_A, ["NAS-IP-Address = 127.0.0.99"])
    assert "Received Access-Accept" not in out
    assert stack.server.metrics.get("ac_drop.unknown_nas_behind_proxy.proxy1") >= 1
    assert wait_for(lambda: stack.server.metrics.get("status_server") >= 1, timeout=25), \
        stack.proxy.log()[-3000:]
    assert wait_for(lambda: "Received response to status check" in stack.proxy.log(), timeout=5), \
        stack.proxy.log()[-3000:]
    # The proxy still works for the ACs citywifi knows.
    out = stack.login("ac-a", PHONE_A, MAC_A, IDENT_A)
    assert "Received Access-Accept" in out, out


@pytest.mark.parametrize("stack", [PROXY_TO_REALM_IN_RECV_COA], indirect=True)
def test_proxy_to_realm_in_recv_coa_acks_the_disconnect_itself(stack: Stack) -> None:
    """Why the page says Home-Server-Pool: with Proxy-To-Realm in recv-coa, FreeRADIUS 3.2
    answers Disconnect-ACK itself and the NAS never hears of it. citywifi cannot tell that ACK
    from the NAS's own, so the kick would be reported done while the phone stays online."""
    klass = class_of(stack.login("ac-a", PHONE_A, MAC_A, IDENT_A))
    out = stack.acct("ac-a", "Start", PHONE_A, MAC_A, "a-9", klass, IDENT_A)
    assert "Received Accounting-Response" in out, out
    kicked = stack.kick("ac-a", "a-9")
    assert (kicked.ok, kicked.outcome) == (True, "dm"), kicked          # an ACK came back...
    time.sleep(0.2)
    assert stack.nas["ac-a"].received == []                              # ...but not from the NAS
    assert "Sent Disconnect-Request" not in stack.proxy.log()
