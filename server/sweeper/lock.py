"""One sweeper at a time across a deployment: a Redis lock with a lease.

Every worker pool and every API process asks for the lock before each sweep: `SET key token NX PX
lease` takes it when it is free, and its holder renews it (PEXPIRE, only while the key still holds
its own token). A holder that stops renewing (it died, or hangs) loses it one lease later, and the
next process that asks sweeps from then on. A holder that finds the lock gone or another's stops
sweeping at once. Shutdown releases it (DEL, only if still its own), so the next sweeper need not
wait out the lease.

The lock spares the database the same work done several times over; it is not what keeps a run's
end right: SQL compare-and-sets decide every status, so two sweepers at once (the lease lapsed
under a sweep slower than it) still end each run once.
"""

from __future__ import annotations

import logging
import os
import socket

from redis import Redis

from server.storage.ids import new_id

log = logging.getLogger(__name__)

# KEYS[1] the lock, ARGV[1] this holder's token, ARGV[2] the lease in ms.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def sweep_lock_key(prefix: str) -> str:
    """The lock's key; its value names the process that sweeps: `<host>:<pid>:<random>`."""
    return f"{prefix}:sweeper"


class SweepLock:
    """Held by at most one process of a deployment (per Redis prefix) at a time."""

    def __init__(self, redis: Redis, key: str, lease_s: float):
        self._redis = redis
        self._key = key
        self._lease_ms = max(1, int(lease_s * 1000))
        # Who holds it, for an operator reading the key (and a test): host, pid, then a random part.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{new_id()}"
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self.held = False

    def hold(self) -> bool:
        """Take the lock if it is free, else renew it if it is this holder's: whether this process
        may sweep now. RedisError propagates (the caller does not sweep then)."""
        was_held, self.held = self.held, False
        # Renewed first: a renewal that failed on a Redis error left the key ours, and SET NX would
        # not take it back before it lapsed.
        if self._renew(keys=[self._key], args=[self.token, self._lease_ms]) == 1:
            self.held = True
        elif self._redis.set(self._key, self.token, nx=True, px=self._lease_ms):
            self.held = True
            log.info("this process is the sweeper now (lock %s)", self._key)
        elif was_held:
            log.warning("lost the sweeper lock %s to another process; not sweeping", self._key)
        return self.held

    def release(self) -> None:
        """Let the next process take the lock at once (not one lease later)."""
        if self.held:
            self._release(keys=[self._key], args=[self.token])
            self.held = False
