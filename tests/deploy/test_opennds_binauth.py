"""deploy/opennds/binauth.sh (run by /bin/sh, as openNDS does): the limits of a citywifi grant
come out in BinAuth's order and units; an edited, foreign or unsigned custom value denies."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from ac_adapters.gateways import GatewayLimits
from ac_adapters.gateways.opennds import signed_limits

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
    assert "timeout_deauth" in (tmp_path / "ba.log").read_text()
