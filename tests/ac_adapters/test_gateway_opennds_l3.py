"""openNDS level 3 (ac_adapters/gateways/opennds_l3.py): the encrypted redirect as openNDS's PHP
makes it (checked against the openssl command line, which PHP's openssl_encrypt wraps), and the
authmon entries and answers in its units (minutes) and its 1024-character window."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from urllib.parse import quote, unquote

import pytest

from ac_adapters.gateways import GatewayLimits
from ac_adapters.gateways.opennds import rhid
from ac_adapters.gateways.opennds_l3 import (
    MAX_ANSWER,
    authmon_answer,
    authmon_entry,
    decrypt_fas,
    encrypt_fas,
    gateway_hash,
    parse_ack,
    parse_encrypted,
)

KEY, IV = "s3cr3tkey123", "0f3a9c51d2e4b687"
HID = hashlib.sha256(b"8f00aa11").hexdigest()
TEXT = (f"hid={HID}, clientip=192.168.77.10, clientmac=6a:1f:0e:9c:22:41, client_type=cpd_can, "
        f"gatewayname=cafe-gw1, gatewayurl=http%3a%2f%2f192.168.77.1%3a2050, version=9.10.0, "
        f"gatewayaddress=192.168.77.1:2050, gatewaymac=02aabbccddee, authdir=opennds_auth, "
        f"originurl={quote('http://example.com/a?b=1', safe='')}, clientif=lan0, themespec=(null), ")


def _openssl(text: str) -> str:
    """openssl enc with PHP's key handling (zero-padded to 32 bytes), base64 twice as openNDS."""
    key_hex = KEY.encode().ljust(32, b"\0").hex()
    done = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-K", key_hex, "-iv", IV.encode().hex(), "-A",
                           "-base64"], input=text.encode(), capture_output=True, check=True, timeout=10)
    return base64.b64encode(done.stdout.strip()).decode()


def test_what_openssl_encrypts_we_decrypt_and_the_reverse() -> None:
    sealed = _openssl(TEXT)
    assert encrypt_fas(TEXT, IV, KEY) == sealed
    assert decrypt_fas(sealed, IV, KEY) == TEXT
    parsed = parse_encrypted(sealed, IV, KEY)
    assert parsed is not None and parsed.vouched
    assert (parsed.gateway_name, parsed.user_ip, parsed.user_mac, parsed.original_url) == \
        ("cafe-gw1", "192.168.77.10", "6a:1f:0e:9c:22:41", "http://example.com/a?b=1")
    assert parsed.state == {"hid": HID, "gatewayaddress": "192.168.77.1:2050", "authdir": "opennds_auth",
                            "level": "3"}


@pytest.mark.parametrize(("fas", "iv", "key"), [
    (encrypt_fas(TEXT, IV, KEY), IV, "anotherkey99"),            # another gateway's key
    (encrypt_fas(TEXT, IV, KEY), "0000000000000000", KEY),       # another IV: garbage text
    (encrypt_fas(TEXT, IV, KEY), "short", KEY),
    ("bm90IGNpcGhlcnRleHQ=", IV, KEY),                          # base64, not a ciphertext
    ("%%%", IV, KEY),
    ("", IV, KEY),
    ("A" * 20000, IV, KEY),
])
def test_what_does_not_open_with_the_key_is_none(fas: str, iv: str, key: str) -> None:
    assert parse_encrypted(fas, iv, key) is None


def test_authmon_entries_in_minutes_and_the_answer_window() -> None:
    entry = authmon_entry(HID, KEY, GatewayLimits(session_seconds=3601, up_kbps=512, down_kbps=2048,
                                                  up_kbytes=700, down_kbytes=900), custom="cw 3;x")
    assert entry == f"{rhid(HID, KEY)} 61 512 2048 700 900 cw3x"     # 3601 s → 61 minutes (rounded up)
    assert authmon_entry(HID, KEY, GatewayLimits()).split()[1:6] == ["0"] * 5   # 0 = no limit
    answer = authmon_answer([entry] * 20)
    assert answer.startswith("* ") and len(answer) <= MAX_ANSWER
    assert unquote(answer.split()[1]) == entry and answer.count(" ") < 20
    assert authmon_answer([]) == "*"
    assert parse_ack("* " + rhid(HID, KEY)) == [rhid(HID, KEY)]
    assert parse_ack("*") == [] and parse_ack("none") is None
    assert parse_ack("* ;rm -rf /") == []
    assert gateway_hash("cafe-gw1") == hashlib.sha256(b"cafe-gw1").hexdigest()
    assert gateway_hash("Bill's WiFi") == hashlib.sha256(b"Bill%27s+WiFi").hexdigest()    # PHP urlencode

