"""The console's Jinja2 environment and its filters (times, durations, JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from server.console.session import console_token, csrf_token
from server.storage.models import User

HERE = Path(__file__).parent


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:  # SQLite keeps UTC without a zone
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(started: datetime | None, finished: datetime | None) -> str:
    if started is None:
        return "—"
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    end = finished or datetime.now(UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    seconds = max(0.0, (end - started).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@cache
def templates() -> Jinja2Templates:
    """Built once per process, on first use (no work at import)."""
    found = Jinja2Templates(directory=HERE / "templates")
    found.env.filters["when"] = _when
    found.env.filters["pretty"] = _pretty
    found.env.globals["duration"] = duration
    return found


def page(request: Request, name: str, user: User | None, status_code: int = 200, **context: Any) -> Response:
    token = console_token(request)
    context |= {"user": user, "csrf": csrf_token(token) if token and user else ""}
    response = templates().TemplateResponse(request, name, context, status_code=status_code)
    # No framing by other sites (clickjacking a Run or Revoke button), and pages with a user's data
    # (a new token) are not kept in caches a shared computer could show to the next person.
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response
