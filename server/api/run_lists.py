"""Run lists (a user's, an actor's, a task's), the last run of an actor or task, and deleting a run."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.pagination import page_params, paginated
from server.api.params import wait_for_finish
from server.errors import ApiError, InvalidInput, NotFound
from server.lifespan import state_of
from server.responses import data_response
from server.services.resolve import get_actor, get_run, get_task
from server.services.waiting import wait_for_finish as wait_run
from server.shapes import run_json, run_short_json
from server.statuses import RunStatus
from server.storage.models import Run, User
from server.storage.rows import RunView
from server.storage.runs import (
    RunFilter,
    count_runs_stmt,
    delete_finished_run_stmt,
    delete_run_children_stmts,
    last_run_stmt,
    list_runs_stmt,
)

# Apify's RunOrigin values (and APIFY_AI, which apify-shared-js adds).
ORIGINS = frozenset(
    {"DEVELOPMENT", "WEB", "API", "SCHEDULER", "TEST", "WEBHOOK", "ACTOR", "CLI", "CI", "STANDBY", "MCP"}
    | {"APIFY_AI"}
)
_STATUSES = frozenset(s.value for s in RunStatus)


def parse_statuses(params: QueryParams) -> tuple[str, ...]:
    """`status`: one status or a comma-separated list (the Python client joins a list with ',')."""
    raw = params.get("status")
    if not raw:
        return ()
    statuses = tuple(part.strip() for part in raw.split(","))
    bad = [s for s in statuses if s not in _STATUSES]
    if bad:
        raise InvalidInput(
            f"Parameter 'status' has an unknown run status: {bad[0]!r}. "
            f"Use one or more of {', '.join(sorted(_STATUSES))}, separated by commas."
        )
    return statuses


def parse_time(params: QueryParams, name: str) -> datetime | None:
    """An ISO-8601 time, as UTC; a time without a zone is taken as UTC, as Apify documents."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(f"Parameter '{name}' must be an ISO 8601 date and time (UTC).") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # SQLite keeps times without a zone, as UTC: compare in UTC there too.
    return value.astimezone(UTC)


def parse_origin(params: QueryParams) -> str | None:
    origin = params.get("origin") or None
    if origin is not None and origin not in ORIGINS:
        raise InvalidInput(f"Parameter 'origin' must be one of {', '.join(sorted(ORIGINS))}.")
    return origin


async def owner_filter(request: Request, session: AsyncSession, user: User) -> RunFilter:
    """The runs a path names: an actor's (actorId), a task's (actorTaskId) or all of the user's."""
    path = request.path_params
    if "actorTaskId" in path:
        task = await get_task(session, user, path["actorTaskId"])
        return RunFilter(user_id=user.id, actor_task_id=task.id)
    if "actorId" in path:
        actor = await get_actor(session, user, path["actorId"])
        return RunFilter(user_id=user.id, act_id=actor.id)
    return RunFilter(user_id=user.id)


async def list_(request: Request) -> Response:
    """GET /actor-runs, /acts/:id/runs, /actor-tasks/:id/runs: RunShort items, by startedAt."""
    state = state_of(request)
    params = request.query_params
    page = page_params(request)
    statuses = parse_statuses(params)
    after, before = parse_time(params, "startedAfter"), parse_time(params, "startedBefore")
    async with state.db.read() as session:
        user = await authenticate(request, session)
        owner = await owner_filter(request, session, user)
        runs = RunFilter(
            user_id=owner.user_id,
            act_id=owner.act_id,
            actor_task_id=owner.actor_task_id,
            statuses=statuses,
            started_after=after,
            started_before=before,
        )
        total = (await session.execute(count_runs_stmt(runs))).scalar_one()
        rows = (await session.execute(list_runs_stmt(runs, page.offset, page.limit, page.desc))).scalars()
        items = [run_short_json(run) for run in rows]
    return paginated(page, total, items)


async def find_last_run(request: Request, session: AsyncSession, user: User) -> Run:
    """The newest run of the path's actor or task matching `status` and `origin`, or 404.

    The client carries status and origin onto every /runs/last/... sub-resource, so they all use this.
    """
    params = request.query_params
    statuses, origin = parse_statuses(params), parse_origin(params)
    owner = await owner_filter(request, session, user)
    runs = RunFilter(
        user_id=owner.user_id,
        act_id=owner.act_id,
        actor_task_id=owner.actor_task_id,
        statuses=statuses,
        origin=origin,
    )
    run = (await session.execute(last_run_stmt(runs))).scalar_one_or_none()
    if run is None:
        raise NotFound("Actor run was not found")
    return run


async def last(request: Request) -> Response:
    """GET .../runs/last: the full run, after waiting up to waitForFinish (clamped) for it to end."""
    state = state_of(request)
    wait_s = wait_for_finish(request.query_params, state.settings)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        run: RunView = await find_last_run(request, session, user)
    if wait_s > 0 and not RunStatus(run.status).is_terminal:
        run = await wait_run(state, run.id, wait_s)
    return data_response(run_json(run))


class CannotRemoveRunningRun(ApiError):
    """Raised when a run that has not finished is asked to be deleted."""

    error_type = "cannot-remove-running-run"


async def delete(request: Request) -> Response:
    """DELETE /actor-runs/:runId: 204; the run's log and default storages go with it.

    Only a finished run: the check and the delete are one conditional statement, so a run that is
    resurrected meanwhile is not deleted from under its worker.
    """
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.transaction() as session:
        run = await get_run(session, user, request.path_params["runId"])
        deleted = await session.execute(delete_finished_run_stmt(run.id))
        if deleted.rowcount != 1:  # type: ignore[attr-defined]
            raise CannotRemoveRunningRun(
                f"Only finished runs can be deleted (run ID: {run.id}, status: {run.status})."
            )
        for stmt in delete_run_children_stmts(run):
            await session.execute(stmt)
    return Response(status_code=204)
