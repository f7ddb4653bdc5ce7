"""``citywifi admin``: accounts and API tokens from the command line.

    citywifi admin create-user alice --role admin            # prompts for the password twice
    echo "$PW" | citywifi admin create-user bob --role venue --venue mall-1 --password-stdin
    citywifi admin set-password alice                        # reset (also clears a lockout)
    citywifi admin list-users
    citywifi admin create-token monitoring --scope read      # prints the secret once

With no ``redis.url`` configured it uses the embedded Redis of ``data_dir`` — the running one
of ``citywifi up`` if there is one, else it starts it for the duration of the command.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
from collections.abc import Iterator
from typing import Any

from portal.accounts import AccountStore, Role
from portal.apitokens import SCOPES, ApiTokenStore
from portal.audit import AuditLog
from portal.errors import CitywifiError
from portal.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="admin_command", required=True)
    create = sub.add_parser("create-user", help="create a console account")
    create.add_argument("username")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMIN.value)
    create.add_argument("--venue", action="append", default=[], help="venue id (venue operators; repeat)")
    create.add_argument("--name", default="", help="display name")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    reset = sub.add_parser("set-password", help="set a new password for an account")
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true")
    sub.add_parser("list-users", help="list console accounts as JSON")
    token = sub.add_parser("create-token", help="create an API token (the secret is printed once)")
    token.add_argument("name")
    token.add_argument("--scope", choices=list(SCOPES), default="read")
    revoke = sub.add_parser("revoke-token", help="revoke an API token by id")
    revoke.add_argument("token_id")


@contextlib.contextmanager
def admin_redis(settings: Settings) -> Iterator[Any]:
    """A client for the configured Redis, or for the data dir's embedded one."""
    from portal.state import connect
    from portal.state.embedded import EmbeddedRedis

    if settings.redis.url or settings.redis.sentinels:
        yield connect(settings.redis)
        return
    embedded = EmbeddedRedis(settings.data_dir / "redis", binary=settings.redis.embedded_binary)
    if embedded.socket_path.exists():
        client = connect(settings.redis, embedded.url)
        try:
            client.ping()
        except Exception:      # a stale socket of a stopped `citywifi up`
            client = None
        if client is not None:
            yield client
            return
    with embedded.start():
        yield connect(settings.redis, embedded.url)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CitywifiError("the two passwords differ")
    return first


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        with admin_redis(settings) as redis:
            accounts = AccountStore(redis)
            audit = AuditLog(redis)
            actor = f"cli:{getpass.getuser()}"
            if args.admin_command == "create-user":
                account = accounts.create(args.username, _password(args), args.role, args.venue, args.name)
                audit.record(actor, "account", "account.create", account.username, None, account.public())
                print(json.dumps(account.public(), ensure_ascii=False))
            elif args.admin_command == "set-password":
                accounts.set_password(args.username, _password(args))
                audit.record(actor, "account", "account.password_reset", args.username)
                print(f"password of {args.username} changed")
            elif args.admin_command == "list-users":
                print(json.dumps([a.public() for a in accounts.all()], ensure_ascii=False, indent=1))
            elif args.admin_command == "create-token":
                token, secret = ApiTokenStore(redis).create(args.name, args.scope, actor)
                audit.record(actor, "account", "token.create", token.id, None, token.as_dict())
                print(json.dumps({**token.as_dict(), "secret": secret}, ensure_ascii=False))
            elif args.admin_command == "revoke-token":
                token = ApiTokenStore(redis).revoke(args.token_id)
                audit.record(actor, "account", "token.revoke", token.id, None, token.as_dict())
                print(f"token {token.id} revoked")
    except CitywifiError as exc:
        print(f"citywifi admin: {exc}", file=sys.stderr)
        return 1
    return 0
