"""deploy/opennds/binauth.sh (run by /bin/sh, as openNDS does): the limits of a citywifi grant
come out in BinAuth's order and units; an edited, foreign or unsigned custom value denies."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ac_adapters.gateways import GatewayLimits
from ac_adapters.gateways.opennds import signed_limits
from ac_adapters.gateways.opennds_events import SIGNATURE_HEADER, parse_event, verify_signature

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
           "CITYWIFI_BINAUTH_CONF": str(conf)}
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
