"""run-sync-get-dataset-items: run-sync, answered with the run's default dataset items."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from server.api.datasets import items_query, items_response
from server.api.runs import start_and_wait
from server.errors import NotFound, RunFailed, RunTimeoutExceeded
from server.lifespan import state_of
from server.statuses import RunStatus
from server.storage.models import Dataset


async def run_sync_get_dataset_items(request: Request) -> Response:
    """Hold until the run ends (400 run-failed unless SUCCEEDED) or the wait limit passes (408),
    then 201 with the items in the requested format and the pagination headers."""
    state = state_of(request)
    # Parsed before the run starts: a bad dataset parameter is a 400 and starts nothing.
    query = items_query(request.query_params)
    run = await start_and_wait(request, state.settings.run_sync_wait_s, kind="run-sync")
    status = RunStatus(run.status)
    if not status.is_terminal:
        raise RunTimeoutExceeded(state.settings.run_sync_wait_s)
    if status is not RunStatus.SUCCEEDED:
        raise RunFailed(run.id, status.value)
    async with state.db.read() as session:
        stmt = select(Dataset).where(Dataset.id == run.default_dataset_id, Dataset.user_id == run.user_id)
        dataset = (await session.execute(stmt)).scalar_one_or_none()
    if dataset is None:  # the run's dataset was deleted while it ran
        raise NotFound("Dataset was not found")
    return await items_response(state, dataset, query, status_code=201)
