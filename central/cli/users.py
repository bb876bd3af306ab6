"""``linetrace central user add | list | disable | passwd`` and ``token create | list |
revoke``: people's accounts and machine tokens.

A generated password or a token is printed once, on stdout, and never stored in clear;
``--password-stdin`` reads a chosen one instead (for scripts, never on the command line,
where ``ps`` would show it). Every change is an audit record by ``cli:<os user>``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from linetrace.central.cli.common import add_config, in_database, positive, refuse

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection

__all__ = ["register"]

_ROLES = ("operator", "auditor", "admin")


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``user ...`` and ``token ...``."""
    user = verbs.add_parser("user", help="people's accounts: roles, scopes, passwords")
    actions = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add an account; prints a one-time password")
    _common(add, name_help="account name")
    add.add_argument("--role", required=True, choices=_ROLES)
    _scope_option(add)
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin instead"
    )
    add.set_defaults(handler=_user_add)
    listing = actions.add_parser("list", help="print the accounts as JSON lines")
    add_config(listing)
    listing.set_defaults(handler=_user_list)
    disable = actions.add_parser("disable", help="disable an account and end its sessions")
    _common(disable, name_help="account name")
    disable.set_defaults(handler=_user_disable)
    passwd = actions.add_parser("passwd", help="set a new one-time password (or --password-stdin)")
    _common(passwd, name_help="account name")
    passwd.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    passwd.set_defaults(handler=_user_passwd)

    token = verbs.add_parser("token", help="machine tokens for integrations (bearer)")
    token_actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = token_actions.add_parser("create", help="create a token; prints it once")
    _common(create, name_help="token name (what it is for)")
    create.add_argument("--role", required=True, choices=_ROLES)
    _scope_option(create)
    create.add_argument("--expires-days", type=positive, metavar="N", help="expire after N days")
    create.set_defaults(handler=_token_create)
    tokens = token_actions.add_parser("list", help="print the tokens as JSON lines (no secrets)")
    add_config(tokens)
    tokens.set_defaults(handler=_token_list)
    revoke = token_actions.add_parser("revoke", help="revoke a token at once")
    _common(revoke, name_help="token name")
    revoke.set_defaults(handler=_token_revoke)


def _common(parser: argparse.ArgumentParser, *, name_help: str) -> None:
    add_config(parser)
    parser.add_argument("name", metavar="NAME", help=name_help)


def _scope_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SITE[/LINE]",
        help="limit to a site or a line (repeatable; none: every site)",
    )


def _password(args: argparse.Namespace) -> str:
    from linetrace.central.auth.passwords import generate_password

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return generate_password()


def _audit(connection: Connection, action: str, target: str, details: dict[str, Any]) -> None:
    from linetrace.central.audit import cli_actor, record

    record(connection, actor=cli_actor(), action=action, target=target, details=details)


def _user_add(args: argparse.Namespace) -> int:
    from linetrace.central.auth.accounts import AccountError, add_user
    from linetrace.central.auth.principal import InvalidScope, parse_scopes
    from linetrace.central.auth.roles import Role

    try:
        scopes = parse_scopes(args.scope)
    except InvalidScope as exc:
        return refuse(args, str(exc), status=2)
    password = _password(args)
    failed: list[str] = []

    def work(connection: Connection) -> None:
        try:
            add_user(
                connection,
                args.name,
                role=Role(args.role),
                password=password,
                scopes=scopes,
                must_change_password=not args.password_stdin,
            )
        except AccountError as exc:
            failed.append(str(exc))
            return
        details = {"role": args.role, "scopes": [str(s) for s in scopes]}
        _audit(connection, "user.add", f"user:{args.name}", details)

    status = in_database(args, work)
    if failed:
        return refuse(args, failed[0], status=2)
    if status == 0 and not args.password_stdin:
        print(f"one-time password for {args.name}: {password}")
    return status


def _user_list(args: argparse.Namespace) -> int:
    from linetrace.central.auth.accounts import list_users

    def work(connection: Connection) -> None:
        for account in list_users(connection):
            row = {
                "name": account.name,
                "role": str(account.role),
                "scopes": [str(s) for s in account.scopes],
                "language": account.language,
                "disabled": account.disabled,
                "must_change_password": account.must_change_password,
                "created_at": account.created_at.isoformat(),
                "password_changed_at": account.password_changed_at.isoformat(),
            }
            print(json.dumps(row, ensure_ascii=False))

    return in_database(args, work)


def _user_disable(args: argparse.Namespace) -> int:
    from linetrace.central.auth.accounts import disable_user

    return _change_one(
        args, disable_user, "user.disable", f"user:{args.name}", f"no user {args.name!r}"
    )


def _change_one(
    args: argparse.Namespace,
    change: Callable[[Connection, str], bool],
    action: str,
    target: str,
    missing: str,
) -> int:
    """``change`` the record named ``args.name`` and audit it, or refuse: none such."""
    found: list[bool] = []

    def work(connection: Connection) -> None:
        found.append(change(connection, args.name))
        if found[0]:
            _audit(connection, action, target, {})

    status = in_database(args, work)
    if status == 0 and not found[0]:
        return refuse(args, missing)
    return status


def _user_passwd(args: argparse.Namespace) -> int:
    from linetrace.central.auth.accounts import AccountError, set_password

    password = _password(args)
    outcome: list[str] = []

    def work(connection: Connection) -> None:
        try:
            done = set_password(
                connection, args.name, password, must_change=not args.password_stdin
            )
        except AccountError as exc:
            outcome.append(str(exc))
            return
        if not done:
            outcome.append(f"no user {args.name!r}")
            return
        _audit(connection, "user.password", f"user:{args.name}", {})

    status = in_database(args, work)
    if outcome:
        return refuse(args, outcome[0], status=2)
    if status == 0 and not args.password_stdin:
        print(f"one-time password for {args.name}: {password}")
    return status


def _token_create(args: argparse.Namespace) -> int:
    from linetrace.central.audit import cli_actor
    from linetrace.central.auth.accounts import AccountError
    from linetrace.central.auth.principal import InvalidScope, parse_scopes
    from linetrace.central.auth.roles import Role
    from linetrace.central.auth.tokens import create_token

    try:
        scopes = parse_scopes(args.scope)
    except InvalidScope as exc:
        return refuse(args, str(exc), status=2)
    made: list[str] = []
    failed: list[str] = []

    def work(connection: Connection) -> None:
        try:
            secret = create_token(
                connection,
                args.name,
                role=Role(args.role),
                created_by=cli_actor(),
                scopes=scopes,
                expires_days=args.expires_days,
            )
        except AccountError as exc:
            failed.append(str(exc))
            return
        made.append(secret)
        details = {
            "role": args.role,
            "scopes": [str(s) for s in scopes],
            "expires_days": args.expires_days,
        }
        _audit(connection, "token.create", f"token:{args.name}", details)

    status = in_database(args, work)
    if failed:
        return refuse(args, failed[0], status=2)
    if status == 0:
        print(made[0])
    return status


def _token_list(args: argparse.Namespace) -> int:
    from linetrace.central.auth.tokens import list_tokens

    def when(value: Any) -> str | None:
        return None if value is None else str(value.isoformat())

    def work(connection: Connection) -> None:
        for token in list_tokens(connection):
            row = {
                "name": token.name,
                "role": str(token.role),
                "scopes": [str(s) for s in token.scopes],
                "created_by": token.created_by,
                "created_at": when(token.created_at),
                "expires_at": when(token.expires_at),
                "revoked_at": when(token.revoked_at),
                "last_used_at": when(token.last_used_at),
            }
            print(json.dumps(row, ensure_ascii=False))

    return in_database(args, work)


def _token_revoke(args: argparse.Namespace) -> int:
    from linetrace.central.auth.tokens import revoke_token

    return _change_one(
        args, revoke_token, "token.revoke", f"token:{args.name}", f"no live token {args.name!r}"
    )
