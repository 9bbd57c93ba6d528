"""A standby run's web server, from the worker's side: its port, and its readiness.

A standby run (origin STANDBY, server/standby/) listens on a port of GREENROOM_STANDBY_PORTS, given
to it as ACTOR_STANDBY_PORT and ACTOR_WEB_SERVER_PORT. Sandboxes share the host's network, so two
things keep that port the run's own:

- Other sandboxed actors cannot connect to the range (worker/sandbox/network.py closes it to the
  sandbox uids): a standby actor trusts that its requests come through the API, which checked the
  caller's token.
- Before the run is ready, the listener on its port must belong to the run's own uid (/proc/net/tcp
  names each socket's owner): an actor that took the port first (ports are not reserved while a
  run starts) would otherwise receive another user's requests. Once the run's server holds the
  port, no other uid can listen on it.

Ready is Apify's readiness probe answered: GET / with `x-apify-container-server-readiness-probe`,
any answer below 500 (503 is "not yet"). The worker then writes runs.standby_url, marks the run
busy (its idle time starts) and wakes the requests waiting for it; when the attempt ends, the URL
is cleared, so that no request is sent to a port that may be someone else's by then.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import random
import socket
import threading

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from server.events import publish_run_started
from server.settings import Settings
from server.standby.activity import mark_busy
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.runs import transition_stmt

log = logging.getLogger(__name__)

PROBE_HEADER = "x-apify-container-server-readiness-probe"
_PROBE_EVERY_S = 0.2


def standby_port(settings: Settings) -> int:
    """A port of the standby range that nothing listens on now (any address, IPv4 and IPv6)."""
    ports = list(settings.standby_ports)
    random.shuffle(ports)
    for port in ports[:200]:
        if _free(port):
            return port
    raise OSError(f"no free port in GREENROOM_STANDBY_PORTS ({ports[0]}-{ports[-1]} tried at random)")


def _free(port: int) -> bool:
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, port))
            except OSError:
                if family == socket.AF_INET6 and not socket.has_ipv6:
                    continue
                return False
    return True


def listener_uids(port: int) -> set[int]:
    """The uids of the sockets listening on `port` (any address), from /proc/net/tcp and tcp6."""
    uids = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                # local address "HEXIP:HEXPORT", state 0A is LISTEN, uid is the eighth field.
                if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                    uids.add(int(fields[7]))
    return uids


def answers_probe(port: int, timeout_s: float = 2.0) -> bool:
    """Whether the server on the port answers Apify's readiness probe below 500."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", "/", headers={PROBE_HEADER: "1"})
        return connection.getresponse().status < 500
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class Readiness:
    """Probes a standby run's port from a thread until it is ready (or stop()), then publishes it."""

    def __init__(self, db: SyncDatabase, redis: Redis, settings: Settings, run_id: str, port: int, uid: int):
        self._db, self._redis, self._settings = db, redis, settings
        self.run_id, self.port, self.uid = run_id, port, uid
        self.url = f"http://{worker_host(settings)}:{port}"
        self.ready = threading.Event()
        self._stopping = threading.Event()
        self._warned = False
        self._thread = threading.Thread(target=self._probe, name=f"standby-{run_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """The attempt ended: probe no more, and take the URL away."""
        self._stopping.set()
        self._thread.join()
        if self.ready.is_set():
            with contextlib.suppress(SQLAlchemyError), self._db.begin() as connection:
                connection.execute(transition_stmt(self.run_id, list(RunStatus), standby_url=None))

    def _probe(self) -> None:
        while not self._stopping.wait(_PROBE_EVERY_S):
            if not answers_probe(self.port):
                continue
            owners = listener_uids(self.port)
            if owners != {self.uid}:
                if not self._warned:
                    self._warned = True
                    log.warning(
                        "standby run %s: port %s is held by uid %s, not the run's %s: not ready",
                        self.run_id,
                        self.port,
                        sorted(owners),
                        self.uid,
                    )
                continue
            try:
                self._publish()
            except (SQLAlchemyError, RedisError):
                log.warning(
                    "standby run %s: could not say it is ready; trying again", self.run_id, exc_info=True
                )
                continue
            return

    def _publish(self) -> None:
        prefix = self._settings.redis_prefix
        mark_busy(self._redis, prefix, self.run_id)  # before the URL: a sweep between sees it busy
        with self._db.begin() as connection:
            connection.execute(transition_stmt(self.run_id, [RunStatus.RUNNING], standby_url=self.url))
        self.ready.set()
        publish_run_started(self._redis, prefix, self.run_id)  # the requests waiting read SQL


def worker_host(settings: Settings) -> str:
    """This worker's address as the API reaches it: GREENROOM_STANDBY_WORKER_HOST, where `auto` is
    the address its host name resolves to (a container's own, on a compose network)."""
    host = settings.standby_worker_host
    if host != "auto":
        return host
    return socket.gethostbyname(socket.gethostname())


def actor_uid(sandboxed: bool, slot_uid: int | None) -> int:
    """The uid the actor's sockets belong to: its sandbox's, else the worker's own."""
    return slot_uid if sandboxed and slot_uid is not None else os.getuid()
