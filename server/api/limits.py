"""GET and PUT /v2/users/me/limits: a user's limits and what they use now; admins change them.

Admins are the users named in GREENROOM_ADMIN_USERNAMES. An admin may name another user with
`?user=<id or username>` (Greenroom's own parameter) on both; others see only their own and may
not change them (403). The PUT body takes the AccountLimits fields Greenroom enforces
(`maxConcurrentActorJobs`, `maxActorMemoryGbytes`, and Greenroom's `maxRunMemoryMbytes`,
`maxReadyActorJobs`); null puts one back to the setting. Apify's `maxMonthlyUsageUsd` and
`dataRetentionDays` are refused with 400: a self-hosted Greenroom bills no one, and retention is
GREENROOM_RETENTION_DAYS for everyone.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import or_, select
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import read_json_object
from server.errors import Forbidden, InvalidInput, NotFound
from server.lifespan import state_of
from server.responses import data_response
from server.services.limits import account_limits, update_limits
from server.storage.models import User

# Body field -> (user_limits column, MB per unit).
_FIELDS = {
    "maxConcurrentActorJobs": ("max_concurrent_runs", 1),
    "maxActorMemoryGbytes": ("max_running_memory_mbytes", 1024),
    "maxRunMemoryMbytes": ("max_run_memory_mbytes", 1),
    "maxReadyActorJobs": ("max_ready_runs", 1),
}
_NOT_HERE = ("maxMonthlyUsageUsd", "dataRetentionDays")
_MAX_VALUE = 2**31 - 1  # an INTEGER column


async def _target(request: Request, admin_only: bool) -> str:
    """The id of the user whose limits are asked for."""
    state = state_of(request)
    user = await authenticate(request)
    admin = user.username in state.settings.admin_usernames
    if admin_only and not admin:
        raise Forbidden("Only an admin (GREENROOM_ADMIN_USERNAMES) may change limits.")
    wanted = request.query_params.get("user")
    if not wanted or wanted in (user.id, user.username):
        return user.id
    if not admin:
        raise Forbidden("Only an admin (GREENROOM_ADMIN_USERNAMES) may see another user's limits.")
    async with state.db.read() as session:
        stmt = select(User.id).where(or_(User.id == wanted, User.username == wanted))
        user_id = (await session.execute(stmt)).scalar_one_or_none()
    if user_id is None:
        raise NotFound("User was not found")
    return user_id


async def get_limits(request: Request) -> Response:
    state = state_of(request)
    user_id = await _target(request, admin_only=False)
    return data_response(await account_limits(state.db, state.settings, user_id))


def _changes(body: dict[str, Any]) -> dict[str, int | None]:
    for name in _NOT_HERE:
        if name in body:
            raise InvalidInput(f"'{name}' cannot be changed in Greenroom; it bills no one.")
    changes: dict[str, int | None] = {}
    for field, value in body.items():
        if field not in _FIELDS:
            raise InvalidInput(f"Unknown limit '{field}'; the limits are {', '.join(_FIELDS)}.")
        column, unit = _FIELDS[field]
        if value is None:
            changes[column] = None
            continue
        # Counts and megabytes are whole numbers; gigabytes may have a fraction (0.5 = 512 MB).
        whole = isinstance(value, int) and not isinstance(value, bool)
        number = value * unit if whole or (unit > 1 and isinstance(value, float)) else None
        if number is None or not math.isfinite(number) or not 0 <= number <= _MAX_VALUE:
            kind = "a whole number" if unit == 1 else "a number"
            raise InvalidInput(f"'{field}' must be {kind} from 0 to {_MAX_VALUE // unit}, or null.")
        changes[column] = int(number)
    return changes


async def put_limits(request: Request) -> Response:
    state = state_of(request)
    user_id = await _target(request, admin_only=True)
    changes = _changes(await read_json_object(request, state.settings.max_body_bytes))
    limits = await update_limits(state.db, state.queue, state.enqueuing, state.settings, user_id, changes)
    return data_response(limits, status_code=201)
