"""What each standby run is doing, in Redis: the requests in flight to it, when it was last busy,
and whether it is draining (chosen to end for idleness). Shared by the API (which routes), the
sweeper (which ends idle runs) and the worker (which marks a run busy as it becomes ready).

Counts are ephemeral by nature, so Redis holds them, never SQL. Each request in flight is a member
of the run's sorted set scored by when it is to be forgotten: an API process that died with
requests open leaves members that stop counting at their score, not a count that never comes down.

Ending an idle run never races a request onto it: the sweeper marks a run draining only when, in
the same script, nothing is in flight and it was last busy before the cutoff; the API adds its
request in a script that reads the mark (and the run's count, against maxRequestsPerActorRun).
Whichever comes first, the other sees it: a request added first keeps the run; a mark set first
sends the request elsewhere.
"""

from __future__ import annotations

import time
from typing import Any

import redis
import redis.asyncio as aioredis

# Keys outlive their run's last use by this much, then go by themselves.
KEY_TTL_S = 2 * 86_400
# A start being written holds back other starts of the same actor's standby runs at most this long.
_START_HOLD_S = 10

_IDLE = """
if redis.call('ZCOUNT', KEYS[1], ARGV[1], '+inf') > 0 then return 0 end
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[3], '1', 'EX', ARGV[3])
return 1
"""


_ENTER = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('ZCOUNT', KEYS[1], ARGV[1], '+inf') >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _keys(prefix: str, run_id: str) -> tuple[str, str, str]:
    base = f"{prefix}:standby:{run_id}"
    return f"{base}:inflight", f"{base}:last", f"{base}:draining"


def mark_busy(client: redis.Redis, prefix: str, run_id: str) -> None:
    """The run counts as busy now (its worker, as the run becomes ready): its idle time starts."""
    client.set(_keys(prefix, run_id)[1], repr(time.time()), ex=KEY_TTL_S)


def drain_if_idle(client: redis.Redis, prefix: str, run_id: str, idle_s: float) -> bool:
    """Mark the run draining if nothing is in flight and it has been idle for `idle_s`; True if so."""
    now = time.time()
    marked = client.eval(_IDLE, 3, *_keys(prefix, run_id), repr(now), repr(now - idle_s), KEY_TTL_S)
    return bool(marked)


async def loads(client: aioredis.Redis, prefix: str, run_ids: list[str]) -> list[tuple[int, bool]]:
    """(requests in flight, draining) of each run."""
    now = repr(time.time())
    async with client.pipeline(transaction=False) as pipe:
        for run_id in run_ids:
            inflight, _last, draining = _keys(prefix, run_id)
            pipe.zcount(inflight, now, "+inf")
            pipe.exists(draining)
        found: list[Any] = await pipe.execute()
    return [(int(found[i]), bool(found[i + 1])) for i in range(0, len(found), 2)]


async def enter(
    client: aioredis.Redis, prefix: str, run_id: str, request_id: str, hold_s: float, most: int
) -> bool:
    """Count a request in flight to the run (forgotten after `hold_s` if never left), unless the run
    is draining or has `most` in flight already: False, and not counted. One script, so that two
    requests that both saw room cannot both take the last place."""
    now = time.time()
    keys = _keys(prefix, run_id)
    return bool(
        await client.eval(_ENTER, 3, *keys, repr(now), repr(now + hold_s), request_id, most, KEY_TTL_S)
    )


async def starting(client: aioredis.Redis, prefix: str, user_id: str, actor_id: str) -> bool:
    """Whether this request may start the next standby run of the user's actor: not while another
    request's start is being written (two requests at once would each start one). Held until
    `started`, or a few seconds if its API process died meanwhile."""
    return bool(await client.set(_start_key(prefix, user_id, actor_id), "1", nx=True, ex=_START_HOLD_S))


async def started(client: aioredis.Redis, prefix: str, user_id: str, actor_id: str) -> None:
    """The start is committed (the run is in SQL, READY): the next may be decided."""
    await client.delete(_start_key(prefix, user_id, actor_id))


def _start_key(prefix: str, user_id: str, actor_id: str) -> str:
    return f"{prefix}:standby-start:{user_id}:{actor_id}"


async def leave(client: aioredis.Redis, prefix: str, run_id: str, request_id: str) -> None:
    """The request is done: no longer in flight, and the run was busy until now."""
    inflight, last, _draining = _keys(prefix, run_id)
    async with client.pipeline(transaction=True) as pipe:
        pipe.zrem(inflight, request_id)
        pipe.set(last, repr(time.time()), ex=KEY_TTL_S)
        await pipe.execute()
