"""`greenroom tokens create|ls|revoke`: a user's API tokens, on the database directly.

Only a token's hash is stored, so `ls` names tokens by id and creation time; the secret is shown
once, by `create`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from server.cli.db import sync_db
from server.settings import Settings
from server.storage.ids import iso, utcnow
from server.storage.models import TOKEN_DESCRIPTION_CHARS


def add_parser(sub: Any) -> None:
    # `token create` was the command's name before `tokens ls`; it still works.
    p = sub.add_parser(
        "tokens",
        aliases=["token"],
        help="create, list and revoke a user's API tokens (on the database)",
        description="Manage a user's API tokens on the database this machine is configured for.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="a new token (printed once)",
        description="Create an API token for USERNAME and print it; it is stored hashed, never shown again.",
    )
    create.add_argument("username", help="the token's user")
    create.add_argument(
        "--expires", type=float, metavar="DAYS", help="refused this many days from now (default: never)"
    )
    create.add_argument(
        "--description", metavar="TEXT", help="what the token is for (at most 200 characters), shown by `ls`"
    )
    create.set_defaults(handler=_create)
    ls = actions.add_parser(
        "ls",
        help="the user's tokens: id, times and description, never the secret",
        description="List USERNAME's API tokens (not the short-lived ones handed to runs).",
    )
    ls.add_argument("username", help="the tokens' user")
    ls.set_defaults(handler=_ls)
    revoke = actions.add_parser(
        "revoke",
        help="delete a token: it is refused from the next request on",
        description="Delete one of USERNAME's tokens, named by its id (from `tokens ls`) or by the token.",
    )
    revoke.add_argument("username", help="the token's user")
    revoke.add_argument("token", metavar="TOKEN_ID_OR_TOKEN", help="the token's id, or the token itself")
    revoke.set_defaults(handler=_revoke)


def _create(settings: Settings, args: argparse.Namespace) -> int:
    from server.users import create_token

    expires_at = None if args.expires is None else utcnow() + timedelta(days=args.expires)
    if args.description is not None and len(args.description) > TOKEN_DESCRIPTION_CHARS:
        print(f"error: a description is at most {TOKEN_DESCRIPTION_CHARS} characters", file=sys.stderr)
        return 2
    try:
        print(create_token(sync_db(settings), args.username, expires_at, args.description))
    except LookupError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    return 0


def _ls(settings: Settings, args: argparse.Namespace) -> int:
    from server.users import list_tokens

    try:
        rows = list_tokens(sync_db(settings), args.username)
    except LookupError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    print(f"{'ID':<17}  {'CREATED':<24}  {'EXPIRES':<24}  {'LAST USED':<24}  DESCRIPTION")
    for row in rows:
        expires, used = iso(row.expires_at) or "never", iso(row.last_used_at) or "never"
        print(f"{row.id:<17}  {iso(row.created_at):<24}  {expires:<24}  {used:<24}  {row.description or ''}")
    return 0


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    from server.users import revoke_token

    try:
        token_id = revoke_token(sync_db(settings), args.username, args.token)
    except LookupError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    print(f"revoked {token_id}")
    return 0
