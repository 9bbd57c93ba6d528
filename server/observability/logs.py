"""Log lines of Greenroom's processes on stderr, `text` or `json` (GREENROOM_LOG_FORMAT).

A line's structured fields travel in `extra={"fields": {...}}`; a worker's lines while it executes
a run carry that run's id without each call saying so (running()).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from server.settings import Settings

_run_id: ContextVar[str | None] = ContextVar("greenroom_run_id", default=None)


@contextmanager
def running(run_id: str) -> Iterator[None]:
    """Every log line of this thread (and its tasks) until the end says it is about `run_id`."""
    reset = _run_id.set(run_id)
    try:
        yield
    finally:
        _run_id.reset(reset)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(getattr(record, "fields", None) or {})
    run_id = _run_id.get()
    if run_id and "run_id" not in fields:
        fields["run_id"] = run_id
    return fields


# The current second as a line writes it, made once a second: strftime per line cost more than the
# rest of the line's format (1.3% of a worker pool's samples: bench/profile.py).
_second: tuple[int, str] = (-1, "")


def _time(record: logging.LogRecord) -> str:
    """UTC with milliseconds, the moment rounded to the microsecond first, as datetime does."""
    global _second
    whole = int(record.created)
    micro = round((record.created - whole) * 1_000_000)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    second = _second
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(whole)))
    return f"{second[1]}{micro // 1000:03d}Z"


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger> <message> key=value ...`: one line a person reads."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        line = f"{_time(record)} {record.levelname} {record.name} {record.getMessage()}"
        if extra:
            line += " " + extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the line's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    pass


def configure_logging(settings: Settings) -> None:
    """Called by a composition root: warnings and errors of every library, and Greenroom's own
    lines (`greenroom.*`: the access log, runs), to stderr in the configured format."""
    # A line shows none of them, and each costs every record a system call or a lookup: the access
    # log makes a record a request.
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    logging._srcfile = None  # nor the caller's file and line, which walks the stack (logging's docs)
    handler = _OurHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    # Ours replaced (configured again: an in-process test); handlers of others (pytest's) kept.
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _OurHandler)] + [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("greenroom").setLevel(logging.INFO)
