"""Starting runs (async and run-sync), reading and updating them. Logs are in server/api/logs.py."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate, rows_as_caller
from server.api.body import content_type, parse_json_off_loop, read_decoded, read_json_object
from server.api.params import idempotency_key, run_overrides, wait_for_finish
from server.errors import InvalidRequest
from server.events import Watch
from server.lifespan import AppState, state_of
from server.observability.requests import note
from server.responses import data_response
from server.services.resolve import actor_row, get_run, run_row, task_and_actor_rows
from server.services.runs import RunInput, RunMeta, Started, start_run
from server.services.validation import check_text
from server.services.waiting import wait_for_claim
from server.services.waiting import wait_for_finish as wait_run
from server.settings import Settings
from server.shapes import run_json
from server.statuses import RunStatus
from server.storage.ids import new_id
from server.storage.models import Run
from server.storage.rows import RunView, TaskView
from server.wake import Wake

JSON_UTF8 = "application/json; charset=utf-8"


def _meta(request: Request) -> RunMeta:
    client = request.client.host if request.client else None
    return RunMeta(origin="API", client_ip=client, user_agent=request.headers.get("user-agent"))


async def _task_input(request: Request, state: AppState, task: TaskView) -> RunInput:
    """The task's input with the body's top-level keys laid over it."""
    merged = dict(task.input or {})
    if request.method == "POST":
        body = await parse_json_off_loop(
            await read_decoded(request, state.settings.max_body_bytes), state.settings
        )
        if body is not None:
            if not isinstance(body, dict):
                raise InvalidRequest("POST data must be a JSON object")
            merged |= body
    return RunInput(json.dumps(merged, ensure_ascii=False).encode(), JSON_UTF8)


async def actor_input(request: Request, state: AppState) -> RunInput | None:
    """The body verbatim, with its Content-Type; none for GET, an empty body or JSON null."""
    if request.method != "POST":
        return None
    media_type = content_type(request, "application/json")
    body = await read_decoded(request, state.settings.max_body_bytes)
    if not body.strip():
        return None
    # Any case ("Application/JSON"): the input schema's check reads such a body as JSON too.
    is_json = media_type.strip().lower().startswith("application/json")
    if is_json and await parse_json_off_loop(body, state.settings) is None:
        return None
    return RunInput(body, media_type)


# How long a start (without waitForFinish) waits for a worker to take the run. Apify answers with a
# run its scheduler has usually placed by the time the caller reads it again; `apify actors start`
# reads it at once and exits 1 ("failed") when it is still READY. An idle worker takes a run in well
# under this. A run whose job has others ahead of it in the queue has no idle worker to go to: it
# is answered READY at once, as queued (before, a flood of starts was answered at the rate the
# workers took runs, each start held up to this long).
_CLAIM_WAIT_S = 2.0


async def _start(request: Request, run_id: str, until_claimed: bool) -> Started:
    """Parse everything, then start: a bad request is answered before anything is written. The run's
    worker publishes its claim only for a start that waits for it (`until_claimed`)."""
    note(request, run_id=run_id)
    state = state_of(request)
    overrides = run_overrides(request.query_params, state.settings)
    task: TaskView | None = None
    if "actorTaskId" in request.path_params:
        task_ref = request.path_params["actorTaskId"]
        user, (task, actor) = await rows_as_caller(
            request, lambda connection, user: task_and_actor_rows(connection, user, task_ref)
        )
    else:
        actor_ref = request.path_params["actorId"]
        user, actor = await rows_as_caller(
            request, lambda connection, user: actor_row(connection, user, actor_ref)
        )
    key = idempotency_key(request.query_params, request.headers)
    run_input = await _task_input(request, state, task) if task else await actor_input(request, state)
    meta = _meta(request)
    return await start_run(
        state,
        user,
        actor,
        task,
        overrides,
        run_input,
        meta,
        run_id=run_id,
        idempotency_key=key,
        announce=until_claimed,
    )


def started(request: Request, kind: str, *, until_claimed: bool = False) -> _Starting:
    """Start a run, registered as its waiter: `async with` gives (the start, the registration's
    event, the run if it is current: else it is read once registered). The registration is woken when
    the run ends; `until_claimed`: when a worker takes it too.

    The waiter registers before the job is enqueued, so the run it was just handed (READY) is
    current: no finish can have been missed, and no read is needed before waiting. A repeat of an
    idempotent start (its Idempotency-Key started a run within a day) waits for that run instead,
    as any waiter of a run that was already going: registered, then SQL read.
    """
    return _Starting(request, kind, until_claimed)


class _Starting:
    """started()'s context. A class rather than a generator: a generator's frame would keep the
    start, and its run, for as long as the request is held."""

    __slots__ = ("_kind", "_request", "_until_claimed", "_watch")

    def __init__(self, request: Request, kind: str, until_claimed: bool) -> None:
        self._request, self._kind, self._until_claimed = request, kind, until_claimed
        self._watch: Watch | None = None

    async def __aenter__(self) -> tuple[Started, Wake, Run | None]:
        request, waiters = self._request, state_of(self._request).waiters
        run_id = new_id()
        watch = waiters.watch(run_id, self._kind, started=self._until_claimed)
        woken = watch.__enter__()
        try:
            start = await _start(request, run_id, self._until_claimed)
        except BaseException:
            watch.close()
            raise
        current: Run | None = start.run
        if start.run.id != run_id:
            watch.close()
            note(request, run_id=start.run.id)
            watch = waiters.watch(start.run.id, self._kind, started=self._until_claimed)
            woken = watch.__enter__()
            current = None
        self._watch = watch
        return start, woken, current

    async def __aexit__(self, *exc_info: object) -> None:
        if self._watch is not None:
            self._watch.close()


async def start_and_wait(
    request: Request,
    wait_s: float,
    claim_s: float = 0.0,
    kind: str = "waitForFinish",
    *,
    ends_only: bool = False,
) -> RunView:
    """Start a run and wait up to wait_s for it to finish; without that, up to claim_s for a worker
    to take it (RUNNING). `ends_only`: a run read after the wait is a RunEnd (see wait_for_finish)."""
    state = state_of(request)
    async with started(request, kind, until_claimed=wait_s <= 0 and claim_s > 0) as (start, woken, current):
        run = start.run
        if wait_s > 0:
            waiting = wait_run(state, run.id, wait_s, woken=woken, current=current, ends_only=ends_only)
        elif claim_s > 0 and current is not None and not start.ahead:
            waiting = wait_for_claim(state, run.id, claim_s, woken, current)
        else:
            return run
        del start, current, run  # the wait keeps the run only until it waits (held requests' memory)
        return await waiting


def run_location(settings: Settings, run_id: str) -> str:
    return f"{settings.api_base_url}/v2/actor-runs/{run_id}"


async def start(request: Request) -> Response:
    """POST .../runs: 201 with the run, after waiting up to waitForFinish seconds."""
    settings = state_of(request).settings
    run = await start_and_wait(request, wait_for_finish(request.query_params, settings), _CLAIM_WAIT_S)
    return data_response(run_json(run), 201, run_location(settings, run.id))


async def get(request: Request) -> Response:
    state = state_of(request)
    run_id = request.path_params["runId"]
    _user, row = await rows_as_caller(request, lambda connection, user: run_row(connection, user, run_id))
    run: RunView = row
    wait_s = wait_for_finish(request.query_params, state.settings)
    if wait_s > 0 and not RunStatus(run.status).is_terminal:
        run = await wait_run(state, run.id, wait_s)
    return data_response(run_json(run))


async def update(request: Request) -> Response:
    """PUT: the status message (no runId needed, as the SDK sends it)."""
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    changes: dict[str, Any] = {}
    if "statusMessage" in body:
        changes["status_message"] = check_text(body["statusMessage"], "statusMessage")
    if "isStatusMessageTerminal" in body:
        changes["is_status_message_terminal"] = bool(body["isStatusMessageTerminal"])
    async with state.db.transaction() as session:
        run = await get_run(session, user, request.path_params["runId"])
        for attr, value in changes.items():
            setattr(run, attr, value)
    return data_response(run_json(run))
