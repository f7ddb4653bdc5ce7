"""``citywifi admin``: accounts and API tokens from the command line.

    citywifi admin create-user alice --role admin            # prompts for the password twice
    echo "$PW" | citywifi admin create-user bob --role venue --venue mall-1 --password-stdin
    citywifi admin set-password alice                        # reset (also clears a lockout)
    citywifi admin list-users
    citywifi admin create-token monitoring --scope read      # prints the secret once
    citywifi admin create-token hotel-bi --owner hotel1      # acts for (and dies with) hotel1

With no ``redis.url`` configured it uses the embedded Redis of the running ``citywifi up`` in
``data_dir`` (default ``./citywifi-data``: run it where ``up`` was started, or set
``CITYWIFI_DATA_DIR``); when none runs it says so and stops — it never starts a Redis itself.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
from collections.abc import Iterator
from typing import Any

from portal.admin.accounts import AccountStore, Role
from portal.admin.apitokens import SCOPES, ApiTokenStore
from portal.admin.audit import AuditLog
from portal.commands import texts
from portal.errors import CitywifiError
from portal.runtime.settings import Settings

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
    token.add_argument("--owner", metavar="USER", default="",
                       help="the console account the token acts for (it dies with that account and "
                            "never grants more than its current role; a venue account's token "
                            "reads only its venues' reports); default: the operator (cli:<user>)")
    revoke = sub.add_parser("revoke-token", help="revoke an API token by id")
    revoke.add_argument("token_id")


@contextlib.contextmanager
def admin_redis(settings: Settings) -> Iterator[Any]:
    """A client for the configured Redis, or for the running ``citywifi up`` of ``data_dir``.
    Raises NoInstance when neither answers: an admin command never starts a server itself."""
    from portal.state import connect
    from portal.state.instance import instance_redis_url

    client = connect(settings.redis, instance_redis_url(settings))
    try:
        yield client
    finally:
        client.close()


def _check_venues(redis: Any, role: str, venues: list[str]) -> None:
    """A venue operator needs at least one venue, and every venue named must exist."""
    from portal.venues.venue_store import VenueStore

    if role != Role.VENUE.value:
        if venues:
            raise CitywifiError(texts.ADMIN_VENUE_NOT_FOR_ROLE.format(role=role))
        return
    if not venues:
        raise CitywifiError(texts.ADMIN_VENUE_NEEDED)
    known = VenueStore(redis).all()
    unknown = [v for v in venues if v not in known]
    if unknown:
        listed = ", ".join(sorted(known)) or "none yet"
        raise CitywifiError(texts.ADMIN_UNKNOWN_VENUE.format(unknown=", ".join(map(repr, unknown)),
                                                             known=listed))


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise CitywifiError(texts.ADMIN_NO_PASSWORD_STDIN)
        return line.rstrip("\r\n")
    if not _have_terminal():
        raise CitywifiError(texts.ADMIN_NO_TERMINAL)
    try:
        first = getpass.getpass("Password: ")
        repeated = getpass.getpass("Repeat password: ")
    except EOFError:
        raise CitywifiError(texts.ADMIN_PASSWORD_EOF) from None
    if first != repeated:
        raise CitywifiError(texts.ADMIN_PASSWORDS_DIFFER)
    return first


def _have_terminal() -> bool:
    """getpass reads the controlling terminal (else stdin): is there one to ask?"""
    try:
        with open("/dev/tty", "rb"):
            return True
    except OSError:
        return sys.stdin is not None and sys.stdin.isatty()


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        with admin_redis(settings) as redis:
            accounts = AccountStore(redis)
            audit = AuditLog(redis)
            actor = f"cli:{getpass.getuser()}"
            if args.admin_command == "create-user":
                _check_venues(redis, args.role, args.venue)
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
                if args.owner:
                    token, secret = ApiTokenStore(redis).create(
                        args.name, args.scope, f"user:{args.owner}", issued_by=actor)
                else:
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
