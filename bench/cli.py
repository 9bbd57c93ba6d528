"""What the benchmarks' command lines share: the service flags, the command as the report shows it,
and the report's header and table."""

from __future__ import annotations

import argparse
import shlex
import sys

from bench.common import DEFAULT_REDIS_URL


def add_database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="postgresql://... : a server to create (and drop) a throwaway database on; "
        "sqlite:///... : that file; default: a fresh SQLite file in a temporary directory",
    )


def add_redis_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        help=f"a loopback Redis (default {DEFAULT_REDIS_URL} if reachable, else an embedded one)",
    )


def command_line(script: str, argv: list[str] | None) -> str:
    """The command for the report: as typed, or as it would be when main() is called with argv."""
    return shlex.join([sys.executable, *(sys.argv if argv is None else [script, *argv])])


def table_report(
    header: list[tuple[str, str]], columns: tuple[str, ...], rows: list[tuple[str, ...]]
) -> list[str]:
    """`key: value` lines, then a table: its first column aligned left, the others right."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]

    def line(cells: tuple[str, ...]) -> str:
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([cells[0].ljust(widths[0]), *rest])

    out = [f"{key + ':':<10} {value}" for key, value in header]
    return [*out, "", line(columns), line(tuple("-" * w for w in widths)), *(line(r) for r in rows), ""]
