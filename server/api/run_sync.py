"""run-sync: start a run, hold the request until it ends (or the wait limit passes), answer with its
OUTPUT record; or, asked for text/event-stream, stream the run's changes while it goes on, then the
answer. run-sync-get-dataset-items (server/api/run_sync_items.py) waits and streams the same way,
answering with the run's dataset items."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from server.api.params import output_record_key
from server.api.runs import run_location, start_and_wait, started
from server.errors import ApiError, RunFailed, RunTimeoutExceeded
from server.lifespan import AppState, state_of
from server.responses import json_bytes, record_response
from server.services.run_changes import run_changes
from server.settings import Settings
from server.shapes import run_json
from server.statuses import RunStatus
from server.storage.rows import RunView
from server.wake import Wake


def naming(settings: Settings, run_id: str) -> dict[str, str]:
    return {"X-Apify-Run-Id": run_id, "Location": run_location(settings, run_id)}


def unsuccessful(state: AppState, run: RunView) -> ApiError | None:
    """What a run-sync answers for a run that did not succeed: 408 while it goes on, else 400."""
    status = RunStatus(run.status)
    if not status.is_terminal:
        return RunTimeoutExceeded(state.settings.run_sync_wait_s, stopping=state.waiters.draining)
    if status is not RunStatus.SUCCEEDED:
        return RunFailed(run.id, status.value)
    return None


# What a run-sync answers once its run SUCCEEDED (a 201), from the run: its id, user_id, status and
# default storages' ids only (a RunEnd, server/storage/rows.py), nothing else of it.
Answer = Callable[[RunView], Awaitable[Response]]


async def respond(request: Request, answer: Answer) -> Response:
    """Start the run and hold the request; then what `answer` makes of the run that SUCCEEDED, or the
    error, named by the run's headers. Asked for text/event-stream: the same as events.

    Every answer once the run exists names it, errors too (X-Apify-Run-Id, and Location: the run's
    URL): a caller answered 408 (the run goes on) or 400 run-failed, or whose proxy gave up on the
    wait, knows which run to read. Apify's answers do not say.
    """
    if "text/event-stream" in request.headers.get("accept", ""):
        return await run_sync_events(request, answer)
    state = state_of(request)
    run = await start_and_wait(request, state.settings.run_sync_wait_s, kind="run-sync", ends_only=True)
    named = naming(state.settings, run.id)
    ended = unsuccessful(state, run)
    if ended is not None:
        ended.headers = named
        raise ended
    try:
        response = await answer(run)
    except ApiError as exc:
        exc.headers = {**exc.headers, **named}
        raise
    response.headers.update(named)
    return response


async def run_sync(request: Request) -> Response:
    """run-sync: hold until the run ends or the endpoint's limit passes, then answer with the record."""
    state = state_of(request)
    key = output_record_key(request.query_params)

    async def answer(run: RunView) -> Response:
        # Read with the records of the other run-syncs woken with this one.
        record = await state.records.get((run.default_key_value_store_id, key))
        # Apify: "if it doesn't exist the response contains no data". Same status, empty body.
        return record_response(record, 201) if record is not None else Response(b"", 201)

    return await respond(request, answer)


class _HeldStream(StreamingResponse):
    """A stream that, however its sending ends (the run's answer, the client gone, the server
    stopping), drops the run's waiter registration: `held` was entered before the response began."""

    def __init__(
        self, events: AsyncIterator[bytes], held: contextlib.AsyncExitStack, headers: dict[str, str]
    ) -> None:
        super().__init__(events, media_type="text/event-stream", headers=headers)
        self._held = held

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._held.aclose()


async def run_sync_events(request: Request, answer: Answer) -> Response:
    """run-sync with Accept: text/event-stream: 200 as soon as the run is created, then server-sent
    events while it goes on, so a long wait is never an idle connection (proxies drop those):

    - `run`: the run (as GET /v2/actor-runs/:id has it), first as it is, then at each change of its
      status or status message;
    - a `: keep-alive` comment after GREENROOM_EVENT_STREAM_KEEPALIVE_S without an event;
    - last, `result`: {"statusCode": 201, "contentType", "body", "bodyEncoding": "utf-8"|"base64"}
      with what the endpoint answers (the output record: statusCode 201 and no contentType when
      there is none; the dataset items, with `headers`: their X-Apify-Pagination-* ones), or
      `error`: {"statusCode": 408, 400 or 404, "error": {"type", "message"}}, what it would have
      answered instead.

    What is refused before the run exists (a bad parameter, input or token) is answered as usual.
    """
    state = state_of(request)
    held = contextlib.AsyncExitStack()
    start, woken, current = await held.enter_async_context(started(request, "run-sync", until_claimed=True))
    run_id = start.run.id
    headers = naming(state.settings, run_id) | {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return _HeldStream(_events(state, run_id, woken, current, answer), held, headers)


async def _events(
    state: AppState, run_id: str, woken: Wake, current: RunView | None, answer: Answer
) -> AsyncIterator[bytes]:
    wait_s, idle_s = state.settings.run_sync_wait_s, state.settings.event_stream_keepalive_s
    last: RunView | None = current
    async for run in run_changes(state, run_id, woken, current, wait_s, idle_s):
        if run is None:
            yield b": keep-alive\n\n"
            continue
        last = run
        yield _event("run", run_json(run))
    assert last is not None  # run_changes yields the run first
    try:
        ended = unsuccessful(state, last)
        if ended is not None:
            raise ended
        response = await answer(last)
    except ApiError as exc:
        error = {"type": exc.error_type, "message": exc.message}
        yield _event("error", {"statusCode": exc.status_code, "error": error})
        return
    yield _event("result", _result(response))


def _result(response: Response) -> dict[str, Any]:
    """The `result` event of an answer: its status, type, body, and any X-Apify-* headers but the
    run's name (the stream's own headers have it)."""
    result: dict[str, Any] = {"statusCode": response.status_code}
    content_type = response.headers.get("content-type")
    if content_type is None and not response.body:
        return result
    if content_type is not None:
        result["contentType"] = content_type
    result |= _body(bytes(response.body), response.headers.get("content-encoding"))
    extra = {k: v for k, v in response.headers.items() if k.startswith("x-apify-") and k != "x-apify-run-id"}
    if extra:
        result["headers"] = extra
    return result


def _event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json_bytes(data) + b"\n\n"


def _body(value: bytes, content_encoding: str | None) -> dict[str, str]:
    """The record's bytes as event data: text as it is, else (binary, or gzip-encoded) base64."""
    if not content_encoding:
        with contextlib.suppress(UnicodeDecodeError):
            return {"body": value.decode(), "bodyEncoding": "utf-8"}
    return {"body": base64.b64encode(value).decode(), "bodyEncoding": "base64"}
