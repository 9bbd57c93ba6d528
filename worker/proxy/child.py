"""The proxy as a worker pool's child process: started with the pool, started again if it dies."""

from __future__ import annotations

import logging
import time

from server.settings import Settings
from worker.forked import Forked, Forker
from worker.proxy.access import Destinations
from worker.proxy.main import CANNOT_LISTEN

log = logging.getLogger(__name__)

_RESTART_AFTER_S = 5.0


class ProxyChild:
    def __init__(self, settings: Settings, forker: Forker):
        self.settings = settings
        self.forker = forker
        self.process: Forked | None = None
        self.gave_up = not settings.proxy_port  # port 0: no proxy
        self.next_start = 0.0
        if settings.proxy_port:
            Destinations.from_settings(settings)  # a bad allow or deny rule stops the pool at start

    def keep_alive(self) -> None:
        """Start it if it is not running (a crash: at most every few seconds)."""
        if self.gave_up or (self.process is not None and self.process.poll() is None):
            return
        if self.process is not None and self.process.returncode == CANNOT_LISTEN:
            # Another proxy has the port (a second pool on this machine): that one serves the runs.
            log.warning(
                "The proxy could not listen on port %d; not starting it again.", self.settings.proxy_port
            )
            self.gave_up = True
            return
        if time.monotonic() < self.next_start:
            return
        self.next_start = time.monotonic() + _RESTART_AFTER_S
        self.process = self.forker.start("proxy")

    def children(self) -> list[Forked]:
        return [self.process] if self.process is not None and self.process.poll() is None else []
