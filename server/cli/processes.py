"""The processes of a deployment: `greenroom serve` (the API), `worker` (a pool), `proxy`, `db upgrade`."""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from server.collector import collect_less
from server.settings import Settings

SWITCH_INTERVAL_S = 0.0005


def serve_api(settings: Settings, on_ready: Callable[[], None] | None = None) -> None:
    """The API under uvicorn; `on_ready` is called once its socket accepts connections."""
    import uvicorn

    from server.app import create_app
    from server.http_limits import BodyTimeout, guarded_http

    # A thread parsing or decoding a large body holds the GIL until the loop asks for it back, and
    # the loop asks at every wake-up: at Python's 5 ms switch interval a request made of a dozen
    # wake-ups waited 90 ms behind one such thread (bench/hardening.py); 0.5 ms keeps it near 5.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    collect_less()

    app = create_app(settings)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            # Not before: a script that waits for `greenroom dev`'s "running" line asks the API at once.
            if self.started and on_ready is not None:
                on_ready()

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # uvicorn waits for in-flight requests before it stops; held run-sync and waitForFinish
            # requests would keep it up to their wait limit, so they are answered now.
            super().handle_exit(sig, frame)
            drain_soon = getattr(app.state, "drain_soon", None)
            if drain_soon is not None:
                drain_soon()

    # uvicorn's own access log is off and its logging left as create_app set it: the access log is
    # Greenroom's (server/observability/requests.py), which never writes a token.
    config = uvicorn.Config(
        BodyTimeout(app, settings.body_timeout_s),  # body read deadline (issue 14), beside the header's
        interface="asgi3",  # BodyTimeout's __call__ is no coroutine function, which uvicorn takes for ASGI 2
        host=settings.host,
        port=settings.port,
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="on",
        # asyncio's own loop, not uvloop: the quick reads on SQLite run on the loop's thread
        # (server/storage/db.py), and under uvloop requests that never wait were served unfairly
        # (GET a run, 64 connections: p99 750-960 ms); here 59 ms at a higher rate (README, session 21).
        loop="asyncio",
        http=guarded_http(settings.header_timeout_s),  # a header deadline (slowloris, issue 14)
    )
    # uvicorn re-raises Ctrl-C after its graceful shutdown; for us that is the normal way to stop.
    with contextlib.suppress(KeyboardInterrupt):
        Server(config).run()


def add_listen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, help="the API's port (default: $GREENROOM_PORT, else 8000)")
    parser.add_argument("--host", help="the API's address (default: $GREENROOM_HOST, else 127.0.0.1)")


def listen_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    if args.port:
        settings = settings.with_(port=args.port)
    if args.host:
        settings = settings.with_(host=args.host)
    return settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="the API server alone (production: beside `greenroom worker`)",
        description="Serve the HTTP API; runs are executed by `greenroom worker` pools sharing its "
        "database and Redis.",
    )
    add_listen_options(p)
    p.set_defaults(handler=lambda settings, args: serve_api(listen_settings(settings, args)))

    p = sub.add_parser(
        "worker",
        help="a worker pool: runs, builds, webhooks, the sweeper, Apify Proxy",
        description="Start worker processes that execute runs and builds, call webhooks, sweep "
        "(expired leases, lost jobs, old runs and storages) and serve Apify Proxy.",
    )
    p.add_argument("--processes", type=int, help="worker processes (default: $GREENROOM_WORKER_PROCESSES)")
    p.add_argument("--burst", action="store_true", help="one worker that stops when the queue is empty")
    p.set_defaults(handler=_worker)

    p = sub.add_parser(
        "proxy",
        help="Apify Proxy alone (every `greenroom worker` pool starts one)",
        description="Serve Apify Proxy alone, on $GREENROOM_PROXY_PORT.",
    )
    p.set_defaults(handler=_proxy)

    p = sub.add_parser("db", help="database schema: `db upgrade`", description="Manage the database schema.")
    p.add_argument("action", choices=["upgrade"], help="upgrade: run the migrations not yet applied")
    p.set_defaults(handler=_db)


def _worker(settings: Settings, args: argparse.Namespace) -> None:
    from worker.main import run_pool, run_worker

    if args.burst:
        run_worker(settings, burst=True)
    else:
        run_pool(settings, args.processes or settings.worker_processes)


def _proxy(settings: Settings, args: argparse.Namespace) -> None:
    from worker.proxy.main import run_proxy

    run_proxy(settings)


def _db(settings: Settings, args: argparse.Namespace) -> None:
    from server.migrate import upgrade

    upgrade(settings.sql_url, settings.secrets_key)
