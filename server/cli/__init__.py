"""The `greenroom` command. One module per command group; each adds its parser and a handler.

A handler only parses what argparse did not, builds on Settings, and calls one function; it returns
the exit code (None: 0).
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version

from server.settings import Settings


def _version() -> str:
    try:
        return version("greenroom")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    from server.cli import call, dev, processes, push, runs, tokens, users

    parser = argparse.ArgumentParser(
        prog="greenroom",
        description="Greenroom: a self-hosted task-run backend with an Apify API v2-compatible HTTP API. "
        "`greenroom dev` starts it all on this machine; `greenroom COMMAND --help` tells more.",
    )
    parser.add_argument("--version", action="version", version=f"greenroom {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dev.add_parser(sub)
    processes.add_parsers(sub)
    users.add_parser(sub)
    tokens.add_parser(sub)
    push.add_parser(sub)
    call.add_parser(sub)
    runs.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    code = args.handler(Settings.from_env(), args)
    sys.exit(code or 0)
