"""GET /health (this process answers) and GET /ready (it can serve: database and Redis reachable,
the database's migrations at head). Neither needs a token: load balancers and compose ask them."""

from __future__ import annotations

import logging
from functools import cache

import anyio
from alembic.script import ScriptDirectory
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse

from server.lifespan import state_of
from server.migrate import alembic_config

log = logging.getLogger(__name__)

# A check that takes longer than this fails: a probe must answer well within its own timeout.
CHECK_TIMEOUT_S = 3.0
_VERSIONS = text("SELECT version_num FROM alembic_version")


@cache
def _heads() -> frozenset[str]:
    """The migrations this code expects (read once: they ship with the code)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("")).get_heads())


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    checks = {"database": await _database(request), "redis": await _redis(request)}
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503)


async def _database(request: Request) -> str:
    """ "ok", or why not: unreachable, or its schema is not the one this code needs."""
    try:
        with anyio.fail_after(CHECK_TIMEOUT_S):
            async with state_of(request).db.read() as session:
                found = set((await session.execute(_VERSIONS)).scalars())
    except TimeoutError:
        return f"unreachable: no answer within {CHECK_TIMEOUT_S:g} s"
    except SQLAlchemyError as exc:
        # A reachable database with no alembic_version table was never migrated.
        if "alembic_version" in str(exc):
            return "migrations not applied: run `greenroom db upgrade`"
        return _unreachable("database", exc)
    if found != _heads():
        have, want = ", ".join(sorted(found)) or "none", ", ".join(sorted(_heads()))
        return f"migrations not at head: at {have}, this code needs {want} (run `greenroom db upgrade`)"
    return "ok"


async def _redis(request: Request) -> str:
    client = state_of(request).redis
    try:
        with anyio.fail_after(CHECK_TIMEOUT_S):
            # The sync client: the same one the queue uses, through a thread like every sync call.
            await anyio.to_thread.run_sync(client.ping, abandon_on_cancel=True)
    except TimeoutError:
        return f"unreachable: no answer within {CHECK_TIMEOUT_S:g} s"
    except RedisError as exc:
        return _unreachable("Redis", exc)
    return "ok"


def _unreachable(what: str, exc: Exception) -> str:
    """The answer names the error's kind only: /ready needs no token, and a driver's message names
    hosts, ports and users. The whole message goes to the log, for the operator."""
    log.warning("/ready: %s unreachable: %s", what, exc)
    return f"unreachable: {type(exc).__name__} (the API's log says more)"
