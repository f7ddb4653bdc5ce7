"""``citywifi ac-sim``: run a simulated AC (portal protocol + RADIUS client + accounting + DM).

For demos and integrators: it listens like a real AC, sends real RADIUS to the configured
server, and prints, for each simulated phone, the redirect URL the AC would give it, so a
browser can start the portal flow. Runs until SIGINT/SIGTERM; online users then get an
Accounting Stop. Defaults come from ``[ac_sim]`` in the settings.

Example::

    citywifi ac-sim --flavour cmcc --port 2000 --users 5 --radius 127.0.0.1:1812 \\
        --portal 127.0.0.1:50100 --portal-url http://127.0.0.1:8080/portal
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from typing import Any

from ac_adapters.profiles import PROFILES
from ac_adapters.simulator import SimConfig, SimulatedAc
from portal.runtime.readiness import notify_ready
from portal.runtime.settings import Settings

__all__ = ["add_arguments", "build_config", "run"]

_SHOWN_USERS = 10


def _host_port(value: str, default_port: int) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    return host, int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flavour", "--vendor", choices=sorted(PROFILES), help="vendor profile")
    parser.add_argument("--host", help="address to listen on")
    parser.add_argument("--port", type=int, help="portal-protocol UDP port (0 = any free port)")
    parser.add_argument("--users", type=int, help="simulated phones to associate at start")
    parser.add_argument("--mac-trigger", action="store_true", default=None,
                        help="send 0x30 REQ_MACBINDING_INFO for each phone")
    parser.add_argument("--radius", metavar="HOST[:PORT]", action="append",
                        help="RADIUS server (accounting = PORT+1); repeat for a server group: "
                             "retries go to the next server, one that timed out is skipped")
    parser.add_argument("--radius-balance", action="store_true",
                        help="spread new requests over the RADIUS servers (default: first live one)")
    parser.add_argument("--secret", help="portal-protocol shared secret")
    parser.add_argument("--radius-secret", help="RADIUS shared secret")
    parser.add_argument("--portal", metavar="HOST[:PORT]", help="where NTF_LOGOUT / 0x30 go (port 50100)")
    parser.add_argument("--portal-url", help="portal page the redirect URLs point to")
    parser.add_argument("--coa-port", type=int, help="RFC 5176 port (0 = any free port, -1 = off)")
    parser.add_argument("--local-user", action="append", metavar="USER:PASSWORD",
                        help="accept this user locally instead of asking RADIUS (repeatable)")


def build_config(args: argparse.Namespace, settings: Settings) -> SimConfig:
    s = settings.ac_sim
    radius_host, auth_port = s.radius_host, s.radius_auth_port
    acct_port = s.radius_acct_port
    fallbacks: list[tuple[str, int, int]] = []
    for n, server in enumerate(args.radius or ()):
        host, port = _host_port(server, 1812)
        if n == 0:
            radius_host, auth_port, acct_port = host, port, port + 1
        else:
            fallbacks.append((host, port, port + 1))
    portal_host, portal_port = s.portal_host, s.portal_port
    if args.portal:
        portal_host, portal_port = _host_port(args.portal, 50100)
    pairs = list(args.local_user or s.local_users)
    local_users: dict[str, str] | None = None
    if pairs:
        local_users = {}
        for pair in pairs:
            user, sep, password = pair.partition(":")
            if not sep or not user:
                raise ValueError(f"--local-user wants USER:PASSWORD, not {pair!r}")
            local_users[user] = password
    coa = s.coa_port if args.coa_port is None else args.coa_port
    return SimConfig(
        host=args.host or s.host,
        port=s.port if args.port is None else args.port,
        flavour=args.flavour or s.flavour,
        secret=(args.secret if args.secret is not None else s.secret).encode(),
        portal_host=portal_host, portal_port=portal_port,
        radius_host=None if local_users else radius_host,
        radius_auth_port=auth_port, radius_acct_port=acct_port, radius_fallbacks=tuple(fallbacks),
        radius_balance=bool(getattr(args, "radius_balance", False)),
        radius_secret=(args.radius_secret if args.radius_secret is not None else s.radius_secret).encode(),
        local_users=local_users,
        coa_port=None if coa is not None and coa < 0 else coa,
        nas_ip=s.nas_ip, nas_identifier=s.nas_identifier, ssid=s.ssid, ap_mac=s.ap_mac,
        challenge_ttl=s.challenge_ttl,
        interim_interval=s.interim_interval or None,
        mac_trigger=bool(args.mac_trigger) or s.mac_trigger,
        learned_macs=s.learned_macs,
    )


def _phones(network: str, count: int) -> list[tuple[str, str]]:
    net = ipaddress.IPv4Network(network, strict=False)
    phones = []
    for n, ip in enumerate(net.hosts()):
        if n >= count:
            break
        octets = ip.packed
        phones.append((str(ip), "02:00:" + ":".join(f"{b:02x}" for b in octets)))
    return phones


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        config = build_config(args, settings)
    except ValueError as exc:
        print(f"citywifi ac-sim: {exc}", file=sys.stderr)
        return 2
    from portal.runtime.demo import local_portal_url

    portal_url = args.portal_url or local_portal_url(settings)
    count = settings.ac_sim.users if args.users is None else args.users
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ac = SimulatedAc(config)
    try:
        ac.start()
    except OSError as exc:
        print(f"citywifi ac-sim: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    group = "".join(f" + {h}:{a}/{b}" for h, a, b in config.radius_fallbacks)
    radius = (f"RADIUS {config.radius_host}:{config.radius_auth_port}/{config.radius_acct_port}{group}"
              if config.radius_host else f"local users {', '.join(sorted(config.local_users or {}))}")
    coa = f", RFC 5176 on udp {config.host}:{ac.coa_port}" if ac.coa_port is not None else ""
    print(f"citywifi ac-sim: {config.flavour} AC listening on udp {config.host}:{ac.port}{coa}; "
          f"{radius}; NTF_LOGOUT to {config.portal_host}:{config.portal_port}", flush=True)
    phones = _phones(settings.ac_sim.user_network, count)
    for n, (ip, mac) in enumerate(phones):
        ac.add_user(ip, mac)
        if n < _SHOWN_USERS:
            print(f"phone {ip} {mac} redirect: {ac.redirect_url(ip, portal_url)}", flush=True)
    if len(phones) > _SHOWN_USERS:
        print(f"… and {len(phones) - _SHOWN_USERS} more phones in {settings.ac_sim.user_network}", flush=True)
    notify_ready(f"simulated AC on udp {config.host}:{ac.port}")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        online = len(ac.online())
        ac.stop()
        stats = ", ".join(f"{k}={v}" for k, v in sorted(ac.stats.items()) if not k.startswith("event_"))
        print(f"citywifi ac-sim: stopped ({online} users were online; Accounting Stop sent). {stats}",
              flush=True)
    return 0
