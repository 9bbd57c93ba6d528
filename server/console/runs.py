"""Runs: the live list (filters), a run's page (status, log, input, OUTPUT, dataset), abort, resurrect."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from server.console.guard import console_page
from server.console.templating import page
from server.console.views import dataset_downloads, item_table, record_view
from server.errors import ApiError
from server.lifespan import state_of
from server.run_options import RunOverrides
from server.services.log_follow import follow, strip_ansi
from server.services.resolve import get_dataset, get_run
from server.services.run_control import abort_run, resurrect_run
from server.statuses import RunStatus
from server.storage.datasets import list_items_stmt
from server.storage.logs import RUN_LOG
from server.storage.models import Actor, Run, User
from server.storage.runs import RunFilter, list_runs_stmt

ORIGINS = ("API", "WEB", "CLI", "SCHEDULER", "WEBHOOK", "ACTOR")
STATUSES = tuple(s.value for s in RunStatus)
PREVIEW_ITEMS = 50


@console_page
async def list_runs(request: Request, user: User, form: FormData) -> Response:
    """The user's runs, newest first; htmx re-fetches the table body (`?rows=1`) every 2 s."""
    params = request.query_params
    status = params.get("status") or ""
    origin = params.get("origin") or ""
    runs = RunFilter(
        user.id,
        statuses=(status,) if status in STATUSES else (),
        origin=origin if origin in ORIGINS else None,
    )
    async with state_of(request).db.read() as session:
        rows = (await session.execute(list_runs_stmt(runs, 0, 100, desc=True))).scalars().all()
        actor_ids = {run.act_id for run in rows}
        named = select(Actor.id, Actor.name).where(Actor.id.in_(actor_ids))
        names = dict((await session.execute(named)).tuples().all())
    context: dict[str, Any] = {"runs": rows, "names": names, "query": str(params)}
    if params.get("rows"):
        return page(request, "run_rows.html", user, **context)
    return page(
        request,
        "runs.html",
        user,
        statuses=STATUSES,
        origins=ORIGINS,
        status=status,
        origin=origin,
        **context,
    )


@console_page
async def show_run(request: Request, user: User, form: FormData) -> Response:
    state = state_of(request)
    async with state.db.read() as session:
        run = await get_run(session, user, request.path_params["runId"])
        actor = (await session.execute(select(Actor).where(Actor.id == run.act_id))).scalar_one()
        dataset = await get_dataset(session, user, run.default_dataset_id)
        raw_items = (
            (await session.execute(list_items_stmt(dataset.id, 0, PREVIEW_ITEMS, False))).scalars().all()
        )
    input_record = await state.records.get((run.default_key_value_store_id, run.input_key or "INPUT"))
    output = await state.records.get((run.default_key_value_store_id, "OUTPUT"))
    columns, rows = item_table([json.loads(item) for item in raw_items])
    return page(
        request,
        "run.html",
        user,
        run=run,
        actor=actor,
        dataset=dataset,
        input=record_view(input_record),
        output=record_view(output),
        output_url=f"/runs/{run.id}/records/OUTPUT",
        columns=columns,
        rows=rows,
        downloads=dataset_downloads(dataset),
        terminal=RunStatus(run.status).is_terminal,
        stats=json.dumps(run.stats, indent=2),
    )


@console_page
async def run_status(request: Request, user: User, form: FormData) -> Response:
    """The status box, polled while the run goes; when it ends, htmx reloads the page for its results."""
    async with state_of(request).db.read() as session:
        run = await get_run(session, user, request.path_params["runId"])
    terminal = RunStatus(run.status).is_terminal
    response = page(request, "run_status.html", user, run=run, terminal=terminal)
    if terminal and request.query_params.get("was") == "live":
        response.headers["HX-Refresh"] = "true"
    return response


@console_page
async def run_log(request: Request, user: User, form: FormData) -> Response:
    """The log as it is written: the API's follower (woken by the worker's commits, never polling)."""
    state = state_of(request)
    async with state.db.read() as session:
        run = await get_run(session, user, request.path_params["runId"])
    headers = {"X-Accel-Buffering": "no", "Cache-Control": "no-store"}
    return StreamingResponse(
        follow(state, run.id, strip_ansi, RUN_LOG), headers=headers, media_type="text/plain; charset=utf-8"
    )


@console_page
async def run_record(request: Request, user: User, form: FormData) -> Response:
    """A record of the run's default store, for the page's <img> (no token in a URL)."""
    state = state_of(request)
    async with state.db.read() as session:
        run = await get_run(session, user, request.path_params["runId"])
    record = await state.records.get((run.default_key_value_store_id, request.path_params["key"]))
    if record is None:
        return Response("No such record.", 404)
    headers = {"Content-Encoding": record.content_encoding} if record.content_encoding else {}
    return Response(record.value, media_type=record.content_type, headers=headers)


async def _owned(request: Request, user: User) -> Run:
    async with state_of(request).db.read() as session:
        return await get_run(session, user, request.path_params["runId"])


@console_page
async def abort(request: Request, user: User, form: FormData) -> Response:
    run = await _owned(request, user)
    await abort_run(state_of(request), run, gracefully=form.get("gracefully") == "on")
    return RedirectResponse(f"/runs/{run.id}", 303)


@console_page
async def resurrect(request: Request, user: User, form: FormData) -> Response:
    state = state_of(request)
    async with state.db.read() as session:
        run = await get_run(session, user, request.path_params["runId"])
        actor = (await session.execute(select(Actor).where(Actor.id == run.act_id))).scalar_one()
    if not await resurrect_run(state, run, actor, RunOverrides()):
        raise ApiError(f"Only a finished run can be resurrected (status: {run.status}).")
    return RedirectResponse(f"/runs/{run.id}", 303)
