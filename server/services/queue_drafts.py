"""Requests as clients send them, checked: a bad one is a 400 before anything is written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.errors import InvalidInput
from server.storage.request_queues import request_id_of

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH")
MAX_BATCH = 25  # Apify's limit for batch add and batch delete
MAX_URL_CHARS = 8192
MAX_DATA_CHARS = 1_000_000
# Kept in columns of their own; everything else in the request is kept as sent.
_COLUMNS = ("id", "uniqueKey", "url", "method", "handledAt")


@dataclass(frozen=True)
class Draft:
    id: str
    unique_key: str
    url: str
    method: str
    handled_at: datetime | None
    data: str  # the rest of the request's JSON


def _parse_time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: 'handledAt' must be an ISO 8601 date or null.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{where}: 'handledAt' must be an ISO 8601 date or null.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _string(value: Any, field: str, where: str) -> str:
    if not isinstance(value, str) or not value or "\x00" in value or len(value) > MAX_URL_CHARS:
        raise InvalidInput(
            f"{where}: '{field}' must be a non-empty string of at most {MAX_URL_CHARS} characters."
        )
    return value


def check_draft(value: Any, where: str = "Request") -> Draft:
    """A request to add or update: url required, uniqueKey defaults to the url, method to GET."""
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be a JSON object.")
    url = _string(value.get("url"), "url", where)
    unique_key = _string(value.get("uniqueKey", url), "uniqueKey", where)
    method = value.get("method") or "GET"
    if method not in METHODS:
        raise InvalidInput(f"{where}: 'method' must be one of {', '.join(METHODS)}.")
    for field, kinds in (("userData", dict), ("headers", dict), ("retryCount", int)):
        if value.get(field) is not None and not isinstance(value[field], kinds):
            raise InvalidInput(f"{where}: '{field}' has the wrong type.")
    rest = {k: v for k, v in value.items() if k not in _COLUMNS}
    data = json.dumps(rest, ensure_ascii=False)
    if len(data) > MAX_DATA_CHARS:
        raise InvalidInput(f"{where} must be at most {MAX_DATA_CHARS} characters of JSON.")
    return Draft(
        id=request_id_of(unique_key),
        unique_key=unique_key,
        url=url,
        method=method,
        handled_at=_parse_time(value.get("handledAt"), where),
        data=data,
    )


def check_batch(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput("The body must be a JSON array of requests.")
    if len(value) > MAX_BATCH:
        raise InvalidInput(f"A batch may hold at most {MAX_BATCH} requests.")
    return value


def check_delete_ref(value: Any, index: int) -> tuple[str, str | None]:
    """A batch delete item: {id} or {uniqueKey}; the id (derived from uniqueKey when not given)."""
    where = f"Request {index}"
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be a JSON object with 'id' or 'uniqueKey'.")
    unique_key = value.get("uniqueKey")
    if unique_key is not None:
        unique_key = _string(unique_key, "uniqueKey", where)
    request_id = value.get("id")
    if request_id is None:
        if unique_key is None:
            raise InvalidInput(f"{where} must have 'id' or 'uniqueKey'.")
        request_id = request_id_of(unique_key)
    return _string(request_id, "id", where), unique_key
