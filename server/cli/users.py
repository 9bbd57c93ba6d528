"""`greenroom users create|ls`: on the database directly, like every admin command."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from server.cli.db import sync_db
from server.settings import Settings
from server.storage.ids import iso


def add_parser(sub: Any) -> None:
    # `user` was the command's name before `users ls`; it still works.
    p = sub.add_parser(
        "users",
        aliases=["user"],
        help="create and list users (on the database)",
        description="Manage users on the database this machine is configured for ($GREENROOM_DATABASE_URL).",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="a new user and their first API token (printed once)",
        description="Create a user with an API token. The token is printed once and stored hashed.",
    )
    create.add_argument("username", help="3 to 30 letters, digits, '_', '.' or '-'")
    create.set_defaults(handler=_create)
    ls = actions.add_parser(
        "ls", help="every user, with their id and number of tokens", description="List the users."
    )
    ls.set_defaults(handler=_ls)


def _create(settings: Settings, args: argparse.Namespace) -> int:
    from server.users import create_user

    try:
        user, token = create_user(sync_db(settings), args.username)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"user {user.username} ({user.id}) token: {token}")
    return 0


def _ls(settings: Settings, args: argparse.Namespace) -> int:
    from server.users import list_users

    rows = list_users(sync_db(settings))
    print(f"{'ID':<17}  {'USERNAME':<30}  {'CREATED':<24}  TOKENS")
    for row in rows:
        print(f"{row.id:<17}  {row.username:<30}  {iso(row.created_at) or '':<24}  {row.tokens}")
    return 0
