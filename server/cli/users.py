"""`greenroom users create|ls|limits`: on the database directly, like every admin command."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from server.cli.db import sync_db
from server.settings import USER_LIMIT_NAMES as LIMIT_NAMES
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
    limits = actions.add_parser(
        "limits",
        help="show or change a user's limits (concurrent runs, memory, runs waiting)",
        description="Show a user's limits and what they use now; with options, change them first. "
        "A limit not overridden is the setting's (GREENROOM_MAX_CONCURRENT_RUNS, ...); 'default' "
        "puts one back to it. Runs that a raised limit lets go are started at once.",
    )
    limits.add_argument("username", help="the user whose limits to show or change")
    for name in LIMIT_NAMES:
        limits.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=_limit_value,
            metavar="N|default",
            help=f"overrides GREENROOM_{name.upper()}",
        )
    limits.set_defaults(handler=_limits)


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


def _limit_value(raw: str) -> int | str:
    if raw == "default":
        return raw
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number >= 0 or 'default', not {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a whole number >= 0 or 'default', not {raw!r}")
    return value


def _limits(settings: Settings, args: argparse.Namespace) -> int:
    from redis import Redis

    from server.queue import make_queue
    from server.services.limits import limits_of, set_limits
    from server.users import user_id_of

    db = sync_db(settings)
    try:
        user_id = user_id_of(db, args.username)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    changes: dict[str, int | None] = {}
    for name in LIMIT_NAMES:
        value = getattr(args, name)
        if value is not None:
            changes[name] = None if value == "default" else int(value)
    if changes:
        redis = Redis.from_url(settings.redis_url)
        try:
            set_limits(db, make_queue(redis, settings.queue_name), settings, user_id, changes)
        finally:
            redis.close()
    limits, usage = limits_of(db, settings, user_id)
    for name in LIMIT_NAMES:
        print(f"{name:<28} {getattr(limits, name)}")
    print(f"{'active_runs':<28} {usage.active_runs}")
    print(f"{'active_memory_mbytes':<28} {usage.active_memory_mbytes}")
    print(f"{'ready_runs':<28} {usage.ready_runs}")
    return 0
