"""deploy/opennds/binauth.sh (run by /bin/sh, as openNDS does): the limits of a citywifi grant
come out in BinAuth's order and units; an edited, foreign or unsigned custom value denies."""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from ac_adapters.gateways import GatewayLimits
from ac_adapters.gateways.opennds import signed_limits
from ac_adapters.gateways.opennds_events import SIGNATURE_HEADER, parse_event, verify_signature
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.gateway_sessions import GatewaySessions
from portal.aaa.sessions import SessionRegistry
from portal.aaa.usage import UsageBook
from tests.portal.web.consolekit import make_app

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "opennds" / "binauth.sh"
KEY = "s3cr3tkey123"
TOKEN = "0123abcd"
HID = hashlib.sha256(TOKEN.encode()).hexdigest()


def run(custom: str, event: str = "auth_client", key: str = KEY, tmp: Path | None = None) -> tuple[int, str]:
    log = str((tmp or Path("/tmp")) / "ba.log")
    env = {**os.environ, "CITYWIFI_FASKEY": key, "CITYWIFI_BINAUTH_LOG": log}
    args = [event, "6a:1f:0e:9c:22:41", "http%3a%2f%2fx", "ua", "192.168.77.10", TOKEN, custom]
    done = subprocess.run(["/bin/sh", str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=10)
    return done.returncode, done.stdout.strip()


def test_signed_limits_become_binauth_output_in_seconds(tmp_path: Path) -> None:
    custom = signed_limits(GatewayLimits(session_seconds=1800, up_kbps=512, down_kbps=2048,
                                         up_kbytes=700, down_kbytes=700), HID, KEY)
    assert run(custom, tmp=tmp_path) == (0, "1800 512 2048 700 700")
    assert "allow" in (tmp_path / "ba.log").read_text()


@pytest.mark.parametrize("mangle", [
    lambda c: c.replace(".1800.", ".99999.", 1),        # the phone edits its limits
    lambda c: "cw1.0.0.0.0.0." + c.rsplit(".", 1)[1],   # unlimited with a copied signature
    lambda c: "",                                       # no custom at all
    lambda c: c + ";reboot",                            # shell metacharacters
    lambda c: "dXNlcj10ZXN0",                           # another FAS's base64 custom
])
def test_edited_or_foreign_custom_denies(mangle: object, tmp_path: Path) -> None:
    custom = signed_limits(GatewayLimits(session_seconds=1800), HID, KEY)
    assert run(mangle(custom), tmp=tmp_path)[0] == 1  # type: ignore[operator]


def test_other_key_denies_and_other_events_are_logged_only(tmp_path: Path) -> None:
    custom = signed_limits(GatewayLimits(session_seconds=60), HID, "anotherkey99")
    assert run(custom, tmp=tmp_path)[0] == 1
    assert run("x", event="timeout_deauth", tmp=tmp_path) == (0, "")
    assert "timeout_deauth" in (tmp_path / "ba.log").read_text()      # no event URL: logged only


@pytest.mark.parametrize("key", ["gw-hook-secret-1", "66666666", "\\\\6\\\\", "k" * 70, "a"])
def test_the_scripts_hmac_is_rfc_2104_hmac_sha256(key: str) -> None:
    """OpenWrt has no openssl by default: the script builds HMAC from sha256sum and shell
    arithmetic. Keys with '6' make NUL bytes in the inner pad; keys over 64 bytes are hashed."""
    message = "v=1&gw=cafe-gw1&ev=client_deauth&mac=6a:1f:0e:9c:22:41&in=123&out=45"
    done = subprocess.run(["/bin/sh", "-c", '. "$0"; hmac_sha256 "$1" "$2"', str(SCRIPT), key, message],
                          env={**os.environ, "CITYWIFI_BINAUTH_SOURCE": "1"}, capture_output=True,
                          text=True, timeout=10)
    assert done.stdout.strip() == hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_session_events_are_posted_signed_with_the_hook_secret(tmp_path: Path) -> None:
    """A deauth event reaches the event URL in the background as a body the portal's parser
    accepts, signed with the hook secret from the conf file (not the faskey)."""
    got: list[tuple[bytes, str]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((body, self.headers.get(SIGNATURE_HEADER, "")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conf = tmp_path / "binauth.conf"
    conf.write_text(f"CITYWIFI_EVENT_URL=http://127.0.0.1:{server.server_port}/api/gateway/opennds/events\n"
                    "CITYWIFI_EVENT_SECRET=gw-hook-secret-1\nCITYWIFI_GATEWAY=cafe-gw1\n")
    env = {**os.environ, "CITYWIFI_FASKEY": KEY, "CITYWIFI_BINAUTH_LOG": str(tmp_path / "ba.log"),
           "CITYWIFI_BINAUTH_CONF": str(conf), "CITYWIFI_SPOOL_DIR": str(tmp_path / "spool")}
    try:
        t0 = time.monotonic()
        done = subprocess.run(["/bin/sh", str(SCRIPT), "downquota_deauth", "6a:1f:0e:9c:22:41", "2048000",
                               "51200", "1765000000", "1765000600", TOKEN, "none"],
                              env=env, capture_output=True, text=True, timeout=10)
        assert done.returncode == 0 and time.monotonic() - t0 < 5      # openNDS waits for this
        deadline = time.monotonic() + 15
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    assert len(got) == 1, (tmp_path / "ba.log").read_text()
    body, signature = got[0]
    assert verify_signature("gw-hook-secret-1", body, signature)
    assert not verify_signature(KEY, body, signature)
    event = parse_event(body)
    assert (event.gateway, event.event, event.mac, event.hid) == ("cafe-gw1", "downquota_deauth",
                                                                  "6a:1f:0e:9c:22:41", HID)
    assert (event.download, event.upload, event.start, event.end) == (2048000, 51200, 1765000000, 1765000600)
    assert abs(event.ts - time.time()) < 30 and event.kind == "stop"
    assert TOKEN not in body.decode()                   # the client's token never leaves the gateway


class Gate:
    """The portal's real event endpoint on a loopback HTTP server, behind a switch that answers
    503 (the portal or its proxy down) while ``refusing``; every request is kept."""

    def __init__(self, app: Any) -> None:
        self.app, self.refusing = app, True
        self.seen: list[tuple[bytes, str, int]] = []

    def __call__(self, environ: dict[str, Any], start: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        signature = environ.get("HTTP_X_CITYWIFI_SIGNATURE", "")
        if self.refusing:
            self.seen.append((body, signature, 503))
            start("503 Service Unavailable", [("Content-Length", "0")])
            return [b""]
        environ["wsgi.input"] = io.BytesIO(body)
        statuses: list[int] = []

        def keep(status: str, headers: Any, *rest: Any) -> Any:
            statuses.append(int(status.split()[0]))
            return start(status, headers, *rest)

        out = list(self.app(environ, keep))
        self.seen.append((body, signature, statuses[0]))
        return out


@pytest.fixture
def portal(redis_client: Any, data_dir: Path) -> Iterator[tuple[Gate, str]]:
    AcRegistry(redis_client).put(AcRecord(name="cafe-gw1", addresses=("127.0.0.1",),
                                          secret="gw-hook-secret-1", kind="opennds", faskey=KEY))
    gate = Gate(make_app(redis_client, data_dir))
    server = make_server("127.0.0.1", 0, gate, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield gate, f"http://127.0.0.1:{server.server_port}/api/gateway/opennds/events"
    finally:
        server.shutdown()


def hook(tmp: Path, url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    conf = tmp / "binauth.conf"
    conf.write_text(f"CITYWIFI_EVENT_URL={url}\nCITYWIFI_EVENT_SECRET=gw-hook-secret-1\n"
                    "CITYWIFI_GATEWAY=cafe-gw1\n")
    return subprocess.run(["/bin/sh", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CITYWIFI_FASKEY": KEY, "CITYWIFI_BINAUTH_CONF": str(conf),
                               "CITYWIFI_BINAUTH_LOG": str(tmp / "ba.log"), "CITYWIFI_RETRY_SECONDS": "0",
                               "CITYWIFI_SPOOL_DIR": str(tmp / "spool"),
                               "CITYWIFI_SPOOL_LOCK": str(tmp / "spool.lock"), **env})


def settled(tmp: Path, count: Any) -> None:
    """Wait for the hook's background sender: no lock, and ``count()`` true."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not (tmp / "spool.lock").exists() and count():
            return
        time.sleep(0.05)
    raise AssertionError((tmp / "ba.log").read_text() if (tmp / "ba.log").exists() else "no log")


def spooled(tmp: Path) -> list[str]:
    return sorted(p.name for p in (tmp / "spool").glob("*") if not p.name.startswith("."))


def test_undelivered_events_are_spooled_and_arrive_once_in_order(portal: tuple[Gate, str], tmp_path: Path,
                                                                 redis_client: Any) -> None:
    gate, url = portal
    sessions = GatewaySessions(redis_client)
    for token in (TOKEN, "feedbeef"):
        sessions.remember_grant("cafe-gw1", hashlib.sha256(token.encode()).hexdigest(), phone="18900000077",
                                plan="default", mac="6a:1f:0e:9c:22:41", ip="192.168.77.10", venue="cafe",
                                ssid="", session_seconds=3600)
    now = int(time.time())
    start = ("client_auth", "6a:1f:0e:9c:22:41", "0", "0", str(now - 60), "0", TOKEN, "none")
    stop = ("client_deauth", "6a:1f:0e:9c:22:41", "700000", "30000", str(now - 60), str(now), TOKEN, "none")
    # 1. The portal is down: three tries each, then the events wait in the spool, in order.
    assert hook(tmp_path, url, *start).returncode == 0
    settled(tmp_path, lambda: len(gate.seen) == 3)
    assert hook(tmp_path, url, *stop).returncode == 0
    settled(tmp_path, lambda: len(gate.seen) == 6 and len(spooled(tmp_path)) == 2)
    assert [parse_event(b).event for b, _, _ in gate.seen] == ["client_auth"] * 6   # the oldest first
    assert SessionRegistry(redis_client).by_ac("cafe-gw1") == []
    # 2. It is back: the next event (another client's start) takes the spool along, oldest first.
    gate.refusing = False
    other = ("client_auth", "6a:1f:0e:9c:22:42", "0", "0", str(now), "0", "feedbeef", "none")
    assert hook(tmp_path, url, *other).returncode == 0
    settled(tmp_path, lambda: spooled(tmp_path) == [] and len(gate.seen) == 9)
    delivered = [(parse_event(b), status) for b, _, status in gate.seen[6:]]
    assert [(e.event, e.mac[-2:], s) for e, s in delivered] == [
        ("client_auth", "41", 200), ("client_deauth", "41", 200), ("client_auth", "42", 200)]
    # Each resend has its first try's nonce and a fresh ts (a new signature), so it is not stale.
    assert parse_event(gate.seen[0][0]).nonce == delivered[0][0].nonce
    assert all(abs(e.ts - time.time()) < 30 for e, _ in delivered)
    usage = UsageBook(redis_client).get("18900000077", time.time())
    assert usage.daily_volume == 730_000
    [online] = SessionRegistry(redis_client).by_ac("cafe-gw1")
    assert online.mac == "6a:1f:0e:9c:22:42"
    # 3. The answer to a delivered event was lost: its resend (same nonce) is 409 and dropped,
    # booked once; a captured body sent again (a replay) is refused as well.
    body, signature, _ = gate.seen[7]
    resend = body.decode().rsplit("&ts=", 1)[0]
    (tmp_path / "spool" / f"{now}.1.{parse_event(body).nonce}").write_text(resend)
    assert hook(tmp_path, url, "flush").returncode == 0
    assert spooled(tmp_path) == [] and gate.seen[-1][2] == 409
    replay = urllib.request.Request(url, data=body, headers={SIGNATURE_HEADER: signature})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(replay, timeout=10)
    assert refused.value.code == 409
    assert UsageBook(redis_client).get("18900000077", time.time()).daily_volume == 730_000


def test_the_spool_is_bounded_and_flush_reports_what_is_left(tmp_path: Path) -> None:
    """Nothing listens: at most CITYWIFI_SPOOL_MAX events stay, the newest; `flush` exits 1."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/api/gateway/opennds/events"
    for n in range(5):
        assert hook(tmp_path, url, "idle_deauth", "6a:1f:0e:9c:22:41", str(n), "0", "1765000000",
                    "1765000600", TOKEN, "none", CITYWIFI_SPOOL_MAX="3").returncode == 0
        settled(tmp_path, lambda n=n: (tmp_path / "ba.log").read_text().count("try 3") == n + 1)
    kept = [parse_event(((tmp_path / "spool" / f).read_text() + "&ts=1").encode()).download
            for f in spooled(tmp_path)]
    assert sorted(kept) == [2, 3, 4], kept
    assert "spool full (3), oldest event dropped" in (tmp_path / "ba.log").read_text()
    assert hook(tmp_path, url, "flush", CITYWIFI_SPOOL_MAX="3").returncode == 1
    assert len(spooled(tmp_path)) == 3


def test_the_default_spool_is_on_flash_and_the_senders_lock_in_ram(tmp_path: Path) -> None:
    """OpenWrt: /etc is the flash overlay (kept across reboots), /tmp is RAM (cleared)."""
    done = subprocess.run(["/bin/sh", "-c", '. "$0"; spool_dir; echo; lock_dir', str(SCRIPT)],
                          env={**os.environ, "CITYWIFI_BINAUTH_SOURCE": "1",
                               "CITYWIFI_BINAUTH_CONF": str(tmp_path / "none.conf")},
                          capture_output=True, text=True, timeout=10)
    spool, lock = done.stdout.split()
    assert spool == "/etc/citywifi/binauth-spool"
    assert lock.startswith("/tmp/citywifi-binauth-") and lock.endswith(".lock")


def test_a_spooled_event_is_sent_after_a_reboot(portal: tuple[Gate, str], tmp_path: Path,
                                                 redis_client: Any) -> None:
    """The portal is down when a client leaves; the gateway loses power while its sender waits
    between tries. The spool on flash keeps the event; RAM (the sender and its lock) does not.
    After the reboot, cron's flush sends it with its first nonce, and it is applied once."""
    gate, url = portal
    GatewaySessions(redis_client).remember_grant(
        "cafe-gw1", HID, phone="18900000077", plan="default", mac="6a:1f:0e:9c:22:41", ip="192.168.77.10",
        venue="cafe", ssid="", session_seconds=3600)
    flash, ram = tmp_path / "overlay", tmp_path / "ram"
    flash.mkdir()
    ram.mkdir()
    env = {"CITYWIFI_SPOOL_DIR": str(flash / "binauth-spool"), "CITYWIFI_SPOOL_LOCK": str(ram / "lock")}
    now = int(time.time())
    stop = ("client_deauth", "6a:1f:0e:9c:22:41", "400000", "20000", str(now - 60), str(now), TOKEN, "none")
    conf = tmp_path / "binauth.conf"
    conf.write_text(f"CITYWIFI_EVENT_URL={url}\nCITYWIFI_EVENT_SECRET=gw-hook-secret-1\n"
                    "CITYWIFI_GATEWAY=cafe-gw1\n")
    script = subprocess.Popen(
        ["/bin/sh", str(SCRIPT), *stop], start_new_session=True,
        env={**os.environ, "CITYWIFI_FASKEY": KEY, "CITYWIFI_BINAUTH_CONF": str(conf),
             "CITYWIFI_BINAUTH_LOG": str(tmp_path / "ba.log"), "CITYWIFI_RETRY_SECONDS": "60", **env})
    assert script.wait(timeout=10) == 0
    deadline = time.monotonic() + 15
    while not gate.seen and time.monotonic() < deadline:       # its first try met the 503
        time.sleep(0.05)
    assert gate.seen and (ram / "lock").is_dir()                 # the sender now sleeps 60 s
    # Power cut: every process of the gateway dies and RAM is gone; the flash overlay stays.
    os.killpg(script.pid, signal.SIGKILL)
    for path in sorted(ram.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    kept = sorted(p.name for p in (flash / "binauth-spool").glob("*") if not p.name.startswith("."))
    assert len(kept) == 1 and kept[0].endswith("." + parse_event(gate.seen[0][0]).nonce)
    assert SessionRegistry(redis_client).by_ac("cafe-gw1") == []
    # Back up, the portal too: cron's flush sends what the spool kept.
    gate.refusing = False
    assert hook(tmp_path, url, "flush", **env).returncode == 0
    assert not list((flash / "binauth-spool").glob("[0-9]*"))
    body, _, status = gate.seen[-1]
    assert status == 200 and parse_event(body).nonce == parse_event(gate.seen[0][0]).nonce
    assert UsageBook(redis_client).get("18900000077", time.time()).daily_volume == 420_000
