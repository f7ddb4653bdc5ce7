"""``citywifi portal-packet decode HEX --flavour F [--secret S] [--request-authenticator HEX]``.

An integrator's tool: paste a datagram from tcpdump/Wireshark, get its fields as JSON, and
whether the authenticator verifies with the secret you think the AC has (a wrong secret makes
the AC drop our packets silently, §1.2 — this is how to prove it). Exit status 0 when the
packet decodes and, with ``--secret`` on a 32-byte flavour, the authenticator verifies; 1
otherwise (the JSON then carries ``"error"`` or ``"authenticator_ok": false``).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from typing import Any

from ac_adapters.codec import (
    PortalPacket,
    attr_name,
    decode,
    mac_from_attr,
    type_name,
    verify_authenticator,
)
from ac_adapters.constants import RESPONSE_TYPES, AttrType, err_text
from ac_adapters.errors import DecodeError
from ac_adapters.profiles import PROFILES, VendorProfile
from portal.runtime.settings import Settings

__all__ = ["add_arguments", "describe", "run"]

# Shorthands an integrator types more naturally than a profile name.
_ALIASES = {"v1": "huawei-v1", "v2": "huawei-v2"}
_SEPARATORS = str.maketrans("", "", " \t\r\n:-,")

_TEXT_ATTRS = frozenset({
    AttrType.USER_NAME, AttrType.PASSWORD, AttrType.TEXT_INFO, AttrType.PORT,
    AttrType.USER_NOTIFY, AttrType.NAS_ID, AttrType.USER_AGENT, AttrType.SSID,
})
_IPV4_ATTRS = frozenset({AttrType.BAS_IP, AttrType.IP_CONFIG})
_MAC_ATTRS = frozenset({AttrType.USER_MAC, AttrType.HANMING_MAC})
_U64_ATTRS = frozenset({AttrType.UP_LINK_FLUX, AttrType.DOWN_LINK_FLUX})
_U32_ATTRS = frozenset({
    AttrType.DELAY_TIME, AttrType.SESSION_START, AttrType.SESSION_STOP, AttrType.SESSION_TIME,
    AttrType.INPUT_OCTETS, AttrType.OUTPUT_OCTETS, AttrType.INPUT_PACKETS,
    AttrType.OUTPUT_PACKETS, AttrType.INPUT_GIGAWORDS, AttrType.OUTPUT_GIGAWORDS,
})
_IPV6_ATTRS = frozenset({AttrType.BAS_IPV6, AttrType.USER_IPV6})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    dec = actions.add_parser("decode", help="decode one datagram given in hex",
                             description="Decode one portal protocol datagram to JSON.")
    dec.add_argument("hex", nargs="+", metavar="HEX",
                     help="the datagram in hex (spaces/colons allowed), or - to read stdin")
    dec.add_argument("--flavour", "--flavor", default="huawei-v2",
                     choices=sorted([*PROFILES, *_ALIASES]),
                     help="AC profile: decides the 16- or 32-byte header (default huawei-v2)")
    dec.add_argument("--secret", default=None, help="shared secret, to verify the authenticator")
    dec.add_argument("--request-authenticator", default=None, metavar="HEX",
                     help="authenticator (16 bytes hex) of the request a response answers")


def _profile(name: str) -> VendorProfile:
    return PROFILES[_ALIASES.get(name, name)]


def _parse_hex(text: str) -> bytes:
    cleaned = text.strip()
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    return bytes.fromhex(cleaned.translate(_SEPARATORS))


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def _value(code: int, raw: bytes) -> Any:
    """A readable value where the attribute's meaning is clear; None otherwise (hex says all)."""
    n = len(raw)
    if code in _TEXT_ATTRS:
        return _text(raw)
    if code in _IPV4_ATTRS and n == 4:
        return str(ipaddress.IPv4Address(raw))
    if code in _MAC_ATTRS:
        return mac_from_attr(raw)
    if code in _U64_ATTRS and n == 8:
        return int.from_bytes(raw, "big")
    if code in _U32_ATTRS and n == 4:
        return int.from_bytes(raw, "big")
    if code == AttrType.CHAP_ID and n == 1:
        return raw[0]
    if code == AttrType.USER_LIST and n % 4 == 0:
        return [str(ipaddress.IPv4Address(raw[i : i + 4])) for i in range(0, n, 4)]
    if code in _IPV6_ATTRS and n == 16:
        return str(ipaddress.IPv6Address(raw))
    if code == AttrType.USER_IPV6_LIST and n % 16 == 0:
        return [str(ipaddress.IPv6Address(raw[i : i + 16])) for i in range(0, n, 16)]
    return None


def _err_text(packet_type: int, err_code: int) -> str | None:
    """The §1.5 meaning, or None where ErrCode has none (requests other than REQ_LOGOUT…)."""
    text = err_text(packet_type, err_code)
    return None if text == f"error code {err_code}" and err_code == 0 else text


def describe(packet: PortalPacket, profile: VendorProfile) -> dict[str, Any]:
    """The JSON-able view of a decoded packet (without the authenticator verdict)."""
    attrs = []
    for attr in packet.attrs:
        entry: dict[str, Any] = {"name": attr_name(attr.type), "code": attr.type,
                                 "length": len(attr.value) + 2, "hex": attr.value.hex()}
        value = _value(attr.type, attr.value)
        if value is not None:
            entry["value"] = value
        attrs.append(entry)
    return {
        "flavour": profile.name,
        "header_length": profile.header.value,
        "version": packet.version,
        "type": type_name(packet.type),
        "type_code": packet.type,
        "chap": packet.chap,
        "pap_chap": packet.pap_chap,
        "rsv": packet.rsv,
        "serial_no": packet.serial_no,
        "req_id": packet.req_id,
        "user_ip": packet.user_ip,
        "user_port": packet.user_port,
        "err_code": packet.err_code,
        "err_text": _err_text(packet.type, packet.err_code),
        "attr_num": len(packet.attrs),
        "attrs": attrs,
        "authenticator": packet.authenticator.hex() if packet.authenticator is not None else None,
    }


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def _fail(code: str, message: str) -> int:
    _emit({"error": code, "message": message})
    return 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    del settings        # a pure decoder: needs no configuration
    profile = _profile(args.flavour)
    text = sys.stdin.read() if args.hex == ["-"] else " ".join(args.hex)
    try:
        data = _parse_hex(text)
    except ValueError as exc:
        return _fail("bad_hex", f"not hexadecimal: {exc}")
    request_auth = None
    if args.request_authenticator is not None:
        try:
            request_auth = _parse_hex(args.request_authenticator)
        except ValueError:
            request_auth = b""
        if len(request_auth) != 16:
            return _fail("bad_request_authenticator",
                         "--request-authenticator must be 16 bytes (32 hex digits)")
    try:
        packet = decode(data, header=profile.header)
    except DecodeError as exc:
        return _fail(exc.code, str(exc))

    out = describe(packet, profile)
    ok: bool | None = None
    if profile.has_authenticator and args.secret is not None:
        ok = verify_authenticator(data, args.secret.encode("utf-8"), request_auth)
        if not ok:
            if packet.type in RESPONSE_TYPES and request_auth is None:
                out["authenticator_note"] = (
                    "a response is signed with its request's authenticator: "
                    "pass --request-authenticator")
            else:
                out["authenticator_note"] = "does not verify: wrong secret, or altered packet"
    elif profile.has_authenticator:
        out["authenticator_note"] = "not checked: pass --secret"
    out["authenticator_ok"] = ok
    _emit(out)
    return 0 if ok is not False else 1
