"""`greenroom runs ls|log|abort`: a user's runs, over the HTTP API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from server.cli.api import CliError, add_api_options, resolve_api
from server.settings import Settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "runs",
        help="list runs, print or follow a run's log, abort a run (over the API)",
        description="The runs of the token's user, over the HTTP API.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("ls", help="the newest runs first", description="List runs, newest first.")
    ls.add_argument("--limit", type=int, default=20, help="how many runs (default: 20)")
    ls.add_argument("--status", help="only runs in this status (e.g. RUNNING, SUCCEEDED, FAILED)")
    add_api_options(ls)
    ls.set_defaults(handler=_ls)
    log = actions.add_parser(
        "log", help="a run's log", description="Print RUN_ID's log; with -f, follow it until the run ends."
    )
    log.add_argument("run_id", help="the run's id")
    log.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    add_api_options(log)
    log.set_defaults(handler=_log)
    abort = actions.add_parser(
        "abort",
        help="abort a running run",
        description="Abort RUN_ID: its actor gets SIGTERM and a grace period, then SIGKILL.",
    )
    abort.add_argument("run_id", help="the run's id")
    abort.add_argument("--now", action="store_true", help="kill the actor at once (no grace period)")
    add_api_options(abort)
    abort.set_defaults(handler=_abort)


def _report(exc: CliError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2 if "no API token" in str(exc) else 1


def _ls(settings: Settings, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"desc": 1, "limit": args.limit}
    if args.status:
        params["status"] = args.status
    try:
        items = resolve_api(settings, args).call("GET", "/actor-runs", params)["items"]
    except CliError as exc:
        return _report(exc)
    print(f"{'ID':<17}  {'STATUS':<10}  {'STARTED':<24}  {'FINISHED':<24}  ACTOR")
    for run in items:
        finished = run.get("finishedAt") or "-"
        print(f"{run['id']:<17}  {run['status']:<10}  {run['startedAt']:<24}  {finished:<24}  {run['actId']}")
    return 0


def _log(settings: Settings, args: argparse.Namespace) -> int:
    path = f"/actor-runs/{args.run_id}/log"
    try:
        api = resolve_api(settings, args)
        if not args.follow:
            sys.stdout.write(api.call("GET", path))
            return 0
        # The server streams the log as the worker commits it and ends the response with the run.
        for chunk in api.stream(path, {"stream": 1}):
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
    except CliError as exc:
        return _report(exc)
    return 0


def _abort(settings: Settings, args: argparse.Namespace) -> int:
    params = {} if args.now else {"gracefully": 1}
    try:
        run = resolve_api(settings, args).call("POST", f"/actor-runs/{args.run_id}/abort", params)
    except CliError as exc:
        return _report(exc)
    print(f"{run['id']}: {run['status']}")
    return 0
