"""The peer Greenroom is measured against: the HTTP endpoint over Celery a team would write instead.

Starlette answers `POST /run` by calling `noop.delay().get()` in a thread (Starlette's threadpool, as
such an endpoint is usually written) and returning the result as JSON. Celery uses Redis as broker
and result backend and a prefork pool. bench/versus.py starts both processes; neither is Greenroom's
code, and nothing of Greenroom is imported here.

    export BENCH_CELERY_URL=redis://127.0.0.1:6379/8 BENCH_CELERY_QUEUE=q
    python -m celery -A bench.celery_peer worker -P prefork -c 2
    python -m uvicorn bench.celery_peer:http --port P
"""

from __future__ import annotations

import os

from celery import Celery
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# Celery's idiom is an application built at import, configured from the environment: the peer is
# written as its users write it, not as Greenroom's code is.
_URL = os.environ.get("BENCH_CELERY_URL", "redis://127.0.0.1:6379/8")
QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "celery")
celery = Celery("bench_peer", broker=_URL, backend=_URL)
celery.conf.update(
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    result_expires=600,
)


@celery.task(name="bench.noop")
def noop() -> dict[str, bool]:
    return {"ok": True}


async def run(request: Request) -> JSONResponse:
    result = await run_in_threadpool(lambda: noop.delay().get(timeout=60))
    return JSONResponse({"data": result}, status_code=201)


async def enqueue(request: Request) -> JSONResponse:
    """Start one, without waiting: the peer of Greenroom's POST .../runs (the rate runs are started)."""
    job = await run_in_threadpool(noop.delay)
    return JSONResponse({"data": {"id": job.id}}, status_code=201)


async def bare(request: Request) -> JSONResponse:
    """A JSON answer with no work behind it: the ceiling for Greenroom's `GET /v2/actor-runs/:id`."""
    return JSONResponse({"data": {"id": "AAAAAAAAAAAAAAAAA", "status": "SUCCEEDED"}})


http = Starlette(
    routes=[
        Route("/run", run, methods=["POST"]),
        Route("/enqueue", enqueue, methods=["POST"]),
        Route("/bare", bare, methods=["GET"]),
    ]
)
