"""A standby request forwarded to the run's web server, and its answer streamed back.

The caller's token stays here: the `token` query parameter and the `Authorization` header that
carried it are taken out (the actor's server never sees the caller's credentials), as are hop-by-hop
headers; `X-Forwarded-*` say who asked. Bodies stream both ways, so server-sent events and large
uploads pass as they come.

Errors are Apify's gateway ones: 502 when the run's server cannot be reached or breaks off, 504
when it does not start answering within GREENROOM_STANDBY_REQUEST_TIMEOUT_S.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import StreamingResponse

from server.in_flight import waiting
from server.standby.clients import StandbyClients
from server.standby.errors import StandbyTimedOut, StandbyUnreachable
from server.standby.routing import Target

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

# RFC 9110 7.6.1: meaningful for one connection only.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)


def _query_without_token(query: str) -> str:
    """The query as the caller encoded it, less its `token` parameters."""
    return "&".join(
        part for part in query.split("&") if part and unquote_plus(part.partition("=")[0]) != "token"
    )


def _request_headers(request: Request) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
    client = request.client.host if request.client else ""
    forwarded_for = request.headers.get("x-forwarded-for")
    headers = [(k, v) for k, v in headers if not k.lower().startswith("x-forwarded-")]
    headers += [
        ("x-forwarded-for", f"{forwarded_for}, {client}" if forwarded_for else client),
        ("x-forwarded-proto", request.url.scheme),
        ("x-forwarded-host", request.headers.get("host", "")),
    ]
    return headers


async def forward(
    clients: StandbyClients,
    request: Request,
    target: Target,
    path: str,
    done: Callable[[], Awaitable[None]],
) -> StreamingResponse:
    """Send the request to the target's server at `path`; its answer, streamed. `done` is called once
    the answer has been sent or the caller left; not if this raises (the caller calls it then)."""
    query = _query_without_token(request.url.query)
    url = f"{target.url}/{path.lstrip('/')}" + (f"?{query}" if query else "")
    body = request.stream() if request.method not in ("GET", "HEAD") else None
    outgoing = clients.http.build_request(
        request.method, url, headers=_request_headers(request), content=body
    )
    try:
        with waiting():  # the actor works, not this process: the caller's place is given back
            answer = await clients.http.send(outgoing, stream=True)
    except httpx.TimeoutException as exc:
        raise StandbyTimedOut(_timed_out(target, exc)) from exc
    except httpx.HTTPError as exc:
        raise StandbyUnreachable(
            f"The Actor's standby run {target.run_id} did not answer ({type(exc).__name__}: {exc})."
        ) from exc

    async def relay() -> AsyncIterator[bytes]:
        chunks = answer.aiter_raw()
        try:
            while True:
                with waiting():
                    chunk = await anext(chunks, None)
                if chunk is None:
                    return
                yield chunk
        except httpx.HTTPError:
            return  # the answer is under way: all a proxy can do is end it early
        finally:
            # Shielded: a caller that hangs up as the body ends cancels this response's task group,
            # and a cleanup cut short left the request counted in flight on its run for good (the
            # run then never went idle: tests/standby/test_standby.py's scaling test, now and then).
            with anyio.CancelScope(shield=True):
                await answer.aclose()
                await done()

    # The body passes as it came (aiter_raw: still encoded), so its Content-Length holds.
    headers = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in _HOP_BY_HOP]
    response = StreamingResponse(relay(), status_code=answer.status_code)
    response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return response


def _timed_out(target: Target, exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"The Actor's standby run {target.run_id} did not accept the connection in time."
    return (
        f"The Actor's standby run {target.run_id} did not answer within the request timeout"
        " (GREENROOM_STANDBY_REQUEST_TIMEOUT_S)."
    )
