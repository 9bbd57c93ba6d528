"""Reading a console form (application/x-www-form-urlencoded) without python-multipart: the console
posts no files, so the standard library's parser is all it needs."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

MAX_FORM_BYTES = 1024 * 1024  # an input form, not an upload


async def read_form(request: Request) -> FormData:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return FormData()
    pairs: list[tuple[str, str | UploadFile]] = list(
        parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    )
    return FormData(pairs)
