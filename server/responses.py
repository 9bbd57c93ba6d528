"""Success responses: {"data": ...} with Location on creation."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def data_response(data: Any, status_code: int = 200, location: str | None = None) -> Response:
    headers = {"Location": location} if location else None
    return Response(json_bytes({"data": data}), status_code, headers, media_type="application/json")


def raw_json_response(value: Any, status_code: int = 200) -> Response:
    return Response(json_bytes(value), status_code, media_type="application/json")
