"""GET /metrics: Prometheus's text format. The counters and histograms of every process of this
deployment (their files, metrics.py) added up, and the facts (facts.py) read now.

Who may read it (GREENROOM_METRICS_TOKEN): with a token, `Authorization: Bearer <token>` only; with
none, callers on loopback only. Its answer names no user or run, but it tells load and activity.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from pathlib import Path

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from server.errors import Forbidden, InvalidToken, TokenNotProvided
from server.lifespan import state_of
from server.observability.facts import Facts, read_facts
from server.observability.metrics import metrics_root


async def metrics(request: Request) -> Response:
    state = state_of(request)
    _check_access(request, state.settings.metrics_token)
    facts = await read_facts(state)
    # Reading and merging the files is blocking work: off the event loop.
    body = await anyio.to_thread.run_sync(_render, metrics_root(state.settings), facts)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _check_access(request: Request, token: str) -> None:
    if not token:
        if request.client is None or not _loopback(request.client.host):
            raise Forbidden(
                "GET /metrics answers loopback only; set GREENROOM_METRICS_TOKEN to read it from afar."
            )
        return
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        raise TokenNotProvided()
    if not hmac.compare_digest(sent.strip().encode(), token.encode()):
        raise InvalidToken()


def _loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # not an address (a unix socket's peer): not known to be this machine
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return address.is_loopback


def _render(root: Path, facts: Facts) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collected(root, facts))
    return generate_latest(registry)


class _Collected:
    """Every process group's files under the deployment's root (the API's, each worker pool's)."""

    def __init__(self, root: Path, facts: Facts) -> None:
        self.root, self.facts = root, facts

    def collect(self) -> Iterable[Metric]:
        files = [str(path) for path in sorted(self.root.glob("*/*.db"))]
        yield from MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        yield from self.facts.families()
