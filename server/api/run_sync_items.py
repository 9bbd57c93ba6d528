"""run-sync-get-dataset-items: run-sync, answered with the run's default dataset items."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from server.api.datasets import items_query, items_response
from server.api.run_sync import run_to_end
from server.errors import NotFound
from server.lifespan import state_of
from server.storage.models import Dataset


async def run_sync_get_dataset_items(request: Request) -> Response:
    """Hold until the run ends (400 run-failed unless SUCCEEDED) or the wait limit passes (408),
    then 201 with the items in the requested format and the pagination headers."""
    state = state_of(request)
    # Parsed before the run starts: a bad dataset parameter is a 400 and starts nothing.
    query = items_query(request.query_params)
    run, named = await run_to_end(request)
    async with state.db.read() as session:
        stmt = select(Dataset).where(Dataset.id == run.default_dataset_id, Dataset.user_id == run.user_id)
        dataset = (await session.execute(stmt)).scalar_one_or_none()
    if dataset is None:  # the run's dataset was deleted while it ran
        gone = NotFound("Dataset was not found")
        gone.headers = named
        raise gone
    response = await items_response(state, dataset, query, status_code=201)
    response.headers.update(named)
    return response
