"""run-sync-get-dataset-items: run-sync, answered with the run's default dataset items."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from server.api.datasets import items_query, items_response
from server.api.run_sync import respond
from server.errors import NotFound
from server.lifespan import state_of
from server.storage.models import Dataset
from server.storage.rows import RunView


async def run_sync_get_dataset_items(request: Request) -> Response:
    """Hold until the run ends (400 run-failed unless SUCCEEDED) or the wait limit passes (408),
    then 201 with the items in the requested format and the pagination headers; or all of it as
    server-sent events (run_sync.py respond)."""
    state = state_of(request)
    # Parsed before the run starts: a bad dataset parameter is a 400 and starts nothing.
    query = items_query(request.query_params)

    async def answer(run: RunView) -> Response:
        async with state.db.read() as session:
            stmt = select(Dataset).where(Dataset.id == run.default_dataset_id, Dataset.user_id == run.user_id)
            dataset = (await session.execute(stmt)).scalar_one_or_none()
        if dataset is None:  # the run's dataset was deleted while it ran
            raise NotFound("Dataset was not found")
        return await items_response(state, dataset, query, status_code=201)

    return await respond(request, answer)
