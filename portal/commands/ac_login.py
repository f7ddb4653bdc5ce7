"""``citywifi ac-login``: log one user in on an AC through the Portal protocol and print JSON.

An integrator's tool for bringing up a new AC: it runs exactly the exchange the portal runs
(``ac_adapters.client``), prints the result as one JSON object on stdout and exits 0 on success
(ErrCode 0 or 2 "already online"), 1 when the AC refused or stayed silent, 2 on bad arguments.
``--verbose`` prints every datagram sent and received (hex + decoded type) on stderr.

Example::

    citywifi ac-login --ac 192.0.2.1:2000 --flavour huawei-v2 --secret testing123 \\
        --user-ip 10.0.0.5 --username 13300000001 --password 123456 --mac aa:bb:cc:dd:ee:ff
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

from ac_adapters.client import AcEndpoint, PortalClient, TraceHook
from ac_adapters.codec import PortalPacket
from ac_adapters.errors import PortalError
from ac_adapters.profiles import DEFAULT_PROFILE, PROFILES
from portal.runtime.settings import Settings

__all__ = [
    "UsageError", "add_ac_arguments", "add_arguments", "endpoint_from_args", "make_client",
    "print_json", "run",
]


def add_ac_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``ac-login`` and ``ac-logout``."""
    parser.add_argument("--ac", required=True, metavar="HOST[:PORT]", help="AC address (port default 2000)")
    parser.add_argument("--flavour", "--vendor", default=DEFAULT_PROFILE, choices=sorted(PROFILES),
                        help=f"vendor profile (default {DEFAULT_PROFILE})")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--secret", default="", help="portal shared secret (v2 / 32-byte header flavours)")
    secret.add_argument("--secret-file", type=Path,
                        help="read the shared secret from this file (keeps it out of ps)")
    parser.add_argument("--user-ip", required=True, help="IPv4 address of the end user")
    parser.add_argument("--mac", default=None, help="user MAC (sent in the profile's MAC attribute)")
    parser.add_argument("--pap", action="store_true", default=None, help="use PAP instead of CHAP")
    parser.add_argument("--bas-ip", default=None,
                        help="BAS-IP attribute value (default: the AC address when it is an IPv4 literal)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per try (default: portal_client.timeout)")
    parser.add_argument("--retries", type=int, default=None,
                        help="tries in total (default: portal_client.retries)")
    parser.add_argument("--source", default=None,
                        help="local address to send from (default: portal_client.source_host)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each datagram (hex + type) on stderr")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_ac_arguments(parser)
    parser.add_argument("--username", required=True, help="account name sent in UserName (attr 0x01)")
    parser.add_argument("--password", required=True, help="password / one-time token")
    parser.add_argument("--info", action="store_true", help="after a successful login also query REQ_INFO")


class UsageError(ValueError):
    pass


def endpoint_from_args(args: argparse.Namespace, settings: Settings) -> AcEndpoint:
    host, _, port_text = args.ac.rpartition(":") if ":" in args.ac else (args.ac, "", "2000")
    if not host:
        raise UsageError(f"bad --ac {args.ac!r}: no host")
    try:
        port = int(port_text)
        ipaddress.IPv4Address(args.user_ip)
    except ValueError as exc:
        raise UsageError(f"bad --ac or --user-ip: {exc}") from None
    secret = args.secret.encode("utf-8")
    if args.secret_file is not None:
        try:
            secret = args.secret_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise UsageError(f"cannot read --secret-file: {exc}") from None
    bas_ip = args.bas_ip
    if bas_ip is None:
        try:
            bas_ip = str(ipaddress.IPv4Address(host))
        except ValueError:
            bas_ip = ""
    cfg = settings.portal_client
    try:
        return AcEndpoint(
            host=host, port=port, profile=PROFILES[args.flavour], secret=secret, bas_ip=bas_ip,
            timeout=cfg.timeout if args.timeout is None else args.timeout,
            retries=cfg.retries if args.retries is None else args.retries)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _verbose_trace(direction: str, addr: tuple[str, int], data: bytes, packet: PortalPacket | None,
                   note: str) -> None:
    arrow = "->" if direction == "send" else "<-"
    if packet is not None:
        what = (f"{packet.type_name} ver={packet.version} {'PAP' if packet.pap_chap else 'CHAP'} "
                f"sn={packet.serial_no} req_id={packet.req_id} user={packet.user_ip} err={packet.err_code} "
                f"attrs=[{', '.join(f'{a.name}:{a.value.hex()}' for a in packet.attrs)}]")
    else:
        what = "undecoded"
    suffix = f" ({note})" if note else ""
    print(f"{arrow} {addr[0]}:{addr[1]} {what}{suffix}\n   {data.hex()}", file=sys.stderr, flush=True)


def make_client(args: argparse.Namespace, settings: Settings) -> PortalClient:
    trace: TraceHook | None = _verbose_trace if args.verbose else None
    source = args.source if args.source is not None else settings.portal_client.source_host
    return PortalClient(source_host=source, trace=trace)


def print_json(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True))


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        ac = endpoint_from_args(args, settings)
    except UsageError as exc:
        print(f"citywifi ac-login: {exc}", file=sys.stderr)
        return 2
    try:
        with make_client(args, settings) as client:
            result = client.login(ac, args.user_ip, args.username, args.password, mac=args.mac, pap=args.pap)
            payload: dict[str, Any] = dataclasses.asdict(result)
            if args.info and result.ok:
                payload["info"] = dataclasses.asdict(client.info(ac, args.user_ip))
            payload["stats"] = dict(client.stats)
    except (PortalError, ValueError, OSError) as exc:
        print(f"citywifi ac-login: {exc}", file=sys.stderr)
        return 2
    payload.update(ac=ac.label, flavour=ac.profile.name, user_ip=args.user_ip)
    print_json(payload)
    return 0 if result.ok else 1
