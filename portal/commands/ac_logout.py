"""``citywifi ac-logout``: log one user out on an AC (REQ_LOGOUT ErrCode 0) and print JSON.

Exit 0 when the AC answers ACK_LOGOUT ErrCode 0 or 3 ("already offline"), 1 when it refuses or
stays silent, 2 on bad arguments. Options as ``ac-login`` (minus the credentials).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from ac_adapters.errors import PortalError
from portal.commands.ac_login import UsageError, add_ac_arguments, endpoint_from_args, make_client, print_json
from portal.runtime.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_ac_arguments(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        ac = endpoint_from_args(args, settings)
    except UsageError as exc:
        print(f"citywifi ac-logout: {exc}", file=sys.stderr)
        return 2
    try:
        with make_client(args, settings) as client:
            result = client.logout(ac, args.user_ip, mac=args.mac, pap=bool(args.pap))
            payload: dict[str, Any] = dataclasses.asdict(result)
            payload["stats"] = dict(client.stats)
    except (PortalError, ValueError, OSError) as exc:
        print(f"citywifi ac-logout: {exc}", file=sys.stderr)
        return 2
    payload.update(ac=ac.label, flavour=ac.profile.name, user_ip=args.user_ip)
    print_json(payload)
    return 0 if result.ok else 1
