"""``citywifi portal-packet decode``: JSON fields and exit status (through ``portal.cli.main``
and, for stdin and the real entry point, a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ac_adapters.codec import (
    Attribute,
    PortalPacket,
    encode,
    ip_attr,
    mac_attr,
    text_attr,
    u64_attr,
    user_list_attr,
)
from ac_adapters.constants import AttrType, PacketType
from portal.cli import main

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"s3cret"

REQ_AUTH = PortalPacket(
    type=PacketType.REQ_AUTH, version=2, serial_no=0x0A0B, req_id=0x0123, user_ip="10.20.30.40",
    attrs=(text_attr(AttrType.USER_NAME, "13800138000"), Attribute(AttrType.CHALLENGE, bytes(16)),
           ip_attr(AttrType.BAS_IP, "10.0.0.1"), mac_attr(AttrType.USER_MAC, "AA-BB-CC-DD-EE-FF")),
)
REQ_WIRE = encode(REQ_AUTH, header=32, secret=SECRET)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["portal-packet", "decode", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_v2_req_auth_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, REQ_WIRE.hex(), "--flavour", "huawei-v2", "--secret", "s3cret")
    assert code == 0
    assert out["authenticator_ok"] is True
    assert out["type"] == "REQ_AUTH" and out["type_code"] == 3 and out["version"] == 2
    assert out["chap"] is True and out["serial_no"] == 0x0A0B and out["req_id"] == 0x0123
    assert out["user_ip"] == "10.20.30.40" and out["err_code"] == 0
    assert out["header_length"] == 32 and out["flavour"] == "huawei-v2"
    assert out["rsv"] == 0 and out["user_port"] == 0 and out["attr_num"] == 4
    assert out["authenticator"] == REQ_WIRE[16:32].hex()
    assert [(a["name"], a["code"]) for a in out["attrs"]] == [
        ("USER_NAME", 1), ("CHALLENGE", 3), ("BAS_IP", 10), ("USER_MAC", 11)]
    assert out["attrs"][0]["hex"] == b"13800138000".hex()
    assert [a.get("value") for a in out["attrs"]] == [
        "13800138000", None, "10.0.0.1", "aa:bb:cc:dd:ee:ff"]


def test_wrong_secret_is_false_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, REQ_WIRE.hex(), "--flavour", "v2", "--secret", "wrong")
    assert code == 1 and out["authenticator_ok"] is False
    assert out["type"] == "REQ_AUTH"           # fields are still shown
    assert "secret" in out["authenticator_note"]


def test_no_secret_means_not_checked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, REQ_WIRE.hex(), "--flavour", "h3c")
    assert code == 0 and out["authenticator_ok"] is None


def test_16_byte_header_gives_null(capsys: pytest.CaptureFixture[str]) -> None:
    wire = encode(PortalPacket(type=PacketType.NTF_LOGOUT, version=1, user_ip="192.168.10.20"),
                  header=16)
    code, out = _run(capsys, wire.hex(), "--flavour", "cmcc", "--secret", "anything")
    assert code == 0
    assert out["authenticator_ok"] is None and out["authenticator"] is None
    assert (out["type"], out["header_length"], out["version"]) == ("NTF_LOGOUT", 16, 1)
    code, out = _run(capsys, wire.hex(), "--flavour", "v1")
    assert code == 0 and out["flavour"] == "huawei-v1"


def test_response_needs_request_authenticator(capsys: pytest.CaptureFixture[str]) -> None:
    ack = PortalPacket(type=PacketType.ACK_AUTH, version=2, serial_no=0x0A0B, req_id=0x0123,
                       user_ip="10.20.30.40", err_code=1,
                       attrs=(text_attr(AttrType.TEXT_INFO, "密码错误"),))
    wire = encode(ack, header=32, secret=SECRET, request_authenticator=REQ_WIRE[16:32])
    code, out = _run(capsys, wire.hex(), "--secret", "s3cret",
                     "--request-authenticator", REQ_WIRE[16:32].hex())
    assert code == 0 and out["authenticator_ok"] is True
    assert out["err_code"] == 1 and "rejected" in out["err_text"]
    assert out["attrs"][0]["value"] == "密码错误"
    code, out = _run(capsys, wire.hex(), "--secret", "s3cret")
    assert code == 1 and out["authenticator_ok"] is False
    assert "--request-authenticator" in out["authenticator_note"]
    code, out = _run(capsys, wire.hex(), "--secret", "s3cret", "--request-authenticator", "abcd")
    assert code == 1 and out["error"] == "bad_request_authenticator"


def test_separators_and_prefix_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    spaced = " ".join(f"{b:02x}" for b in REQ_WIRE)
    coloned = "0x" + ":".join(f"{b:02X}" for b in REQ_WIRE)
    for form in (spaced, coloned):
        code, out = _run(capsys, form, "--secret", "s3cret")
        assert code == 0 and out["authenticator_ok"] is True
    code, out = _run(capsys, *spaced.split(), "--secret", "s3cret")   # unquoted bytes
    assert code == 0 and out["serial_no"] == 0x0A0B


@pytest.mark.parametrize(("hex_text", "error"), [
    ("0101", "truncated"),
    ("01990000123400000a00000500000000", "unknown_type"),
    ("01010000123400000a0000050000000000", "length_mismatch"),
    ("01010000123400000a000005000000010105", "attribute_overflow"),
    ("07010000123400000a00000500000000", "unsupported_version"),
    ("zz", "bad_hex"),
    ("123", "bad_hex"),
])
def test_decode_failures_print_error_json(
    capsys: pytest.CaptureFixture[str], hex_text: str, error: str
) -> None:
    code, out = _run(capsys, hex_text, "--flavour", "cmcc")
    assert code == 1 and out["error"] == error and out["message"]


def test_attribute_values(capsys: pytest.CaptureFixture[str]) -> None:
    info = PortalPacket(type=PacketType.ACK_INFO, version=1, attrs=(
        u64_attr(AttrType.UP_LINK_FLUX, 2**40), user_list_attr(["10.0.0.2", "10.0.0.3"]),
        Attribute(AttrType.TEXT_INFO, "城市".encode("gbk")), Attribute(0x26, b"\x01\x02\x03\x04"),
        Attribute(AttrType.HANMING_MAC, bytes.fromhex("001122334455")),
    ))
    code, out = _run(capsys, encode(info, header=16).hex(), "--flavour", "hanming")
    assert code == 0
    values = {a["name"]: a.get("value") for a in out["attrs"]}
    assert values == {"UP_LINK_FLUX": 2**40, "USER_LIST": ["10.0.0.2", "10.0.0.3"],
                      "TEXT_INFO": "城市", "UNKNOWN_0x26": None,
                      "HANMING_MAC": "00:11:22:33:44:55"}


def _subprocess(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", "portal-packet", "decode", *argv],
        input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )


def test_subprocess_stdin_and_exit_codes() -> None:
    good = _subprocess("-", "--flavour", "huawei-v2", "--secret", "s3cret",
                       stdin=REQ_WIRE.hex()[:40] + "\n" + REQ_WIRE.hex()[40:] + "\n")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["authenticator_ok"] is True
    bad = _subprocess(REQ_WIRE.hex(), "--flavour", "huawei-v2", "--secret", "nope")
    assert bad.returncode == 1 and json.loads(bad.stdout)["authenticator_ok"] is False
    short = _subprocess("0101000012340000", "--flavour", "cmcc")
    assert short.returncode == 1 and json.loads(short.stdout)["error"] == "truncated"
