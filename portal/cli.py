"""The ``citywifi`` command. Each subcommand lives in its own module, imported only when used,
so ``citywifi portal-packet decode`` does not pay for Flask and ``citywifi radius`` never
imports it. Command modules are edges: they wire settings and Redis into the libraries
(``ac_adapters``, ``sms_gateway``, ``ad_pages``), which never import ``portal`` themselves.

A subcommand module provides::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace, settings: Settings) -> int: ...   # exit status
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from portal.runtime.settings import SettingsError, load_settings

__all__ = ["SUBCOMMANDS", "main"]

# name → (module, one-line help). Modules are imported lazily.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "up": ("portal.commands.up", "run the whole system on this box (embedded Redis if none configured)"),
    "web": ("portal.commands.web", "serve the portal, consoles and API under gunicorn"),
    "radius": ("portal.commands.radius", "serve RADIUS authentication and accounting"),
    "ac-listener": ("portal.commands.ac_listener", "answer NTF_LOGOUT / MAC-trigger from ACs (UDP 50100)"),
    "sms-worker": ("portal.commands.sms_worker", "send queued SMS through the configured gateways"),
    "ac-sim": ("portal.commands.ac_sim", "run a simulated AC (portal protocol + RADIUS client)"),
    "portal-packet": ("portal.commands.portal_packet", "decode a portal protocol packet (hex) to JSON"),
    "ac-login": ("portal.commands.ac_login", "log a user in on an AC through the portal protocol"),
    "ac-logout": ("portal.commands.ac_logout", "log a user out on an AC through the portal protocol"),
    "config": ("portal.commands.config", "print an example citywifi.toml (every setting) or check settings"),
    "archive": ("portal.commands.archive", "archive/export the legal logs (real-name, accounting, audit)"),
    "admin": ("portal.commands.admin", "console accounts and API tokens (create-user, create-token, …)"),
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citywifi", description="citywifi captive portal and WLAN AAA")
    parser.add_argument("-c", "--config", help="settings file (default: $CITYWIFI_CONFIG or ./citywifi.toml)")
    parser.add_argument("--log-level", default=None, help="override log_level (DEBUG, INFO, …)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module_name)
        if name in _requested:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and module_name.startswith(exc.name):
                    sp.set_defaults(_missing=True)
                    continue
                raise
            module.add_arguments(sp)
    return parser


_requested: set[str] = set()


# What a shell reports for a writer killed by SIGPIPE (`set -o pipefail`), as for `yes | head`.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. A reader that leaves early (``citywifi admin list-users | head -3``)
    ends the command quietly with status 141, as for any Unix filter. SIGPIPE itself stays
    ignored (Python's default): restoring its default action would also kill the servers when a
    peer closes a socket, so the closed pipe is handled here, once, for every command."""
    try:
        try:
            return _main(argv)
        finally:
            # Surface a closed stdout here rather than in the interpreter's exit-time flush,
            # which would print "Exception ignored … BrokenPipeError" and exit 120.
            sys.stdout.flush()
    except BrokenPipeError:
        # Whatever is still buffered can never be delivered: point stdout at /dev/null so the
        # exit-time flush has nowhere to fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the requested subcommand's module (argument parsing needs its options).
    _requested.clear()
    _requested.update(a for a in argv if a in SUBCOMMANDS)
    parser = _build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", False):
        print(f"citywifi: '{args.command}' is not available in this build", file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"citywifi: bad settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=(args.log_level or settings.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    module = importlib.import_module(args._module)
    return int(module.run(args, settings) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
