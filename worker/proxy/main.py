"""The proxy process: run_proxy(settings) builds its parts (the composition root), listens, and stops
on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from server.settings import Settings
from server.storage.db import Database, create_async_db_engine, create_sync_engine
from worker.proxy.access import Destinations
from worker.proxy.auth import Passwords
from worker.proxy.server import Proxy
from worker.proxy.upstreams import Upstreams
from worker.proxy.usage import Meter
from worker.proxy.wire import MAX_HEAD_BYTES

log = logging.getLogger("greenroom.proxy")

# Exit status when the port is taken (another Greenroom's proxy on this machine): the pool does not
# start it again and again.
CANNOT_LISTEN = 3


async def serve(settings: Settings, started: asyncio.Event | None = None) -> None:
    """Listen until SIGTERM/SIGINT (or cancellation); `started` is set once listening."""
    db = Database(create_async_db_engine(settings.sql_url), create_sync_engine(settings.sql_url))
    try:
        proxy = Proxy(
            settings,
            Passwords(db),
            Destinations.from_settings(settings),
            Upstreams(settings.proxy_groups),
            Meter(settings.proxy_max_connections_per_run, settings.proxy_max_bytes_per_run),
        )
        server = await asyncio.start_server(
            proxy.handle, settings.proxy_host, settings.proxy_port, limit=MAX_HEAD_BYTES, reuse_address=True
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        log.info("Apify Proxy listening on %s:%d", settings.proxy_host, settings.proxy_port)
        if started is not None:
            started.set()
        async with server:
            await stop.wait()
    finally:
        await db.dispose()


def run_proxy(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        log.error("The proxy cannot listen on %s:%d: %s", settings.proxy_host, settings.proxy_port, exc)
        sys.exit(CANNOT_LISTEN)
