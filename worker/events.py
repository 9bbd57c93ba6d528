"""A run's platform events websocket (ACTOR_EVENTS_WEBSOCKET_URL), served by the worker supervising it.

Served here rather than by the API because this process is the one that can measure the actor
(systemInfo) and the one that signals it: `aborting` is sent before SIGTERM by construction, and the
supervisor knows whether anyone heard it. The server listens on loopback, where the actor (this
process's child) runs; its path is answered from before the actor starts until after it ends (a
URL that refuses connections makes the SDK's Actor.init fail), and only its own unguessable path.

One server per worker process serves its runs' paths, one after another (_Listening): a server and
its accepting thread made and shut down for every run cost 1.1 ms of CPU and of the run's path.

Messages are Apify's JSON text frames `{"name", "createdAt", "data"?}`. persistState is not sent
periodically: the SDKs emit it themselves (every APIFY_PERSIST_STATE_INTERVAL_MILLIS), as on Apify;
it is sent once right after `aborting`, as Apify's graceful abort does.
"""

from __future__ import annotations

import contextlib
import json
import queue
import secrets
import threading
import time
from http import HTTPStatus
from typing import Any, cast

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from server.storage.ids import iso, utcnow
from worker.per_process import PerProcess
from worker.usage import SystemInfo

_STOP = object()


class _Announcement:
    """Events to send now; `heard` is how many connections got them, once `done` is set."""

    def __init__(self, *events: tuple[str, dict[str, Any] | None]):
        self.events = events
        self.heard = 0
        self.done = threading.Event()


class RunEvents:
    """The events of one run: start(), watch() once the actor runs, close() after it ended."""

    def __init__(self, system_info_interval_s: float):
        self._path = f"/events/{secrets.token_urlsafe(18)}"
        self._interval_s = system_info_interval_s
        self._system_info: SystemInfo | None = None
        self._outbox: queue.Queue[object] = queue.Queue()
        self._connections: set[ServerConnection] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._listening = _listening()
        self.url = f"{self._listening.url}{self._path}"
        # One thread sends everything, in order; a stuck actor blocks it, never the supervisor. It
        # starts with the first connection or announcement: an actor that never connects (no SDK)
        # has nothing to be sent, and a thread started and joined for every run was 0.2 ms of its path.
        self._sender: threading.Thread | None = None

    def start(self) -> None:
        self._listening.add(self._path, self)

    def _send(self, item: object) -> None:
        self._outbox.put(item)
        with self._lock:
            self._start_sender()

    def _start_sender(self) -> None:
        """Under the lock (close() joins what it finds started)."""
        if self._sender is None and not self._closed:
            self._sender = threading.Thread(target=self._send_loop, name="run-events", daemon=True)
            self._sender.start()

    def watch(self, system_info: SystemInfo) -> None:
        """Send systemInfo events from now on, each with the data that system_info() returns."""
        self._outbox.put(system_info)

    def aborting(self, wait_s: float = 2.0) -> bool:
        """Send `aborting`, then persistState; True if a connected actor got them within wait_s."""
        announcement = _Announcement(("aborting", None), ("persistState", {"isMigrating": False}))
        self._send(announcement)
        return announcement.done.wait(wait_s) and announcement.heard > 0

    def migrating(self) -> None:
        """Send `migrating`, then persistState (isMigrating): the worker is stopping, as Apify tells
        an actor before it moves the run off a server, so the actor can save its state."""
        self._send(_Announcement(("migrating", None), ("persistState", {"isMigrating": True})))

    def close(self) -> None:
        """Its path answers 404 from now on, and its connections are closed (1001, going away)."""
        self._listening.remove(self._path)
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, set()
            sender = self._sender
        for connection in connections:
            connection.close(1001)
        if sender is not None:
            self._outbox.put(_STOP)
            sender.join(timeout=5)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def serve(self, connection: ServerConnection) -> None:
        """A connection to this run's path, until it closes (or the run's events do)."""
        with self._lock:
            if self._closed:  # closed between the path's check and now
                connection.close(1001)
                return
            self._connections.add(connection)
            self._start_sender()  # systemInfo is sent from now on
        try:
            # Actors only listen; reading is how their close is noticed.
            with contextlib.suppress(ConnectionClosed):
                for _ in connection:
                    pass
        finally:
            with self._lock:
                self._connections.discard(connection)

    def _broadcast(self, name: str, data: dict[str, Any] | None) -> int:
        message: dict[str, Any] = {"name": name, "createdAt": iso(utcnow())}
        if data is not None:  # aborting has none; the SDK's model fills in its default
            message["data"] = data
        text = json.dumps(message)
        sent = 0
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(ConnectionClosed):  # an actor closing meanwhile
                connection.send(text)
                sent += 1
        return sent

    def _send_loop(self) -> None:
        next_tick = time.monotonic() + self._interval_s
        while True:
            try:
                item = self._outbox.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if isinstance(item, _Announcement):
                item.heard = min(self._broadcast(name, data) for name, data in item.events)
                item.done.set()
            elif item is not None:
                self._system_info = cast(SystemInfo, item)
            elif self._system_info is not None and (data := self._system_info()) is not None:  # a tick
                self._broadcast("systemInfo", data)
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._interval_s


class _Listening:
    """This process's events server, on loopback: a path is answered while its run's events are."""

    def __init__(self) -> None:
        self._runs: dict[str, RunEvents] = {}
        self._lock = threading.Lock()
        # Keepalive pings are useless on loopback, and an actor that blocks its event loop for a
        # while would miss the pong and be dropped.
        self._server: Server = serve(
            self._handle, "127.0.0.1", 0, process_request=self._check_path, ping_interval=None
        )
        address = self._server.socket.getsockname()
        self.url = f"ws://{address[0]}:{address[1]}"
        threading.Thread(target=self._server.serve_forever, name="run-events-accept", daemon=True).start()

    def add(self, path: str, events: RunEvents) -> None:
        with self._lock:
            self._runs[path] = events

    def remove(self, path: str) -> None:
        with self._lock:
            self._runs.pop(path, None)

    def _run(self, path: str | None) -> RunEvents | None:
        with self._lock:
            return self._runs.get(path) if path is not None else None

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._run(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        events = self._run(connection.request.path if connection.request is not None else None)
        if events is None:  # its run's events closed meanwhile
            connection.close(1001)
            return
        events.serve(connection)


# This process's server, made at its first run.
_listening = PerProcess(_Listening).get
