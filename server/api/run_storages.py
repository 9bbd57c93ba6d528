"""A run's default storages by the run: /actor-runs/:runId/... and .../runs/last/....

Each endpoint resolves the run (which checks the token and the owner) and then its default
storage, and hands over to the storage endpoints' own code: their `*_for(request, state, user,
storage)` functions where they exist, else the endpoint itself with the storage id put in its path
parameters. Paging, formats, keys and errors stay exactly those of /v2/datasets and
/v2/key-value-stores and /v2/request-queues. The reads Apify signs (items, keys, a record) take a
`signature` of the default storage on /actor-runs/:runId as the storage's own routes do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api import charges, datasets, key_value_stores, logs, run_control, run_lists, run_reboot
from server.api.auth import authenticate
from server.api.queue_params import QueueEndpoint
from server.api.queue_routes import queue_routes
from server.errors import NotFound
from server.lifespan import AppState, state_of
from server.services.resolve import (
    find_run_of_anyone,
    get_dataset,
    get_key_value_store,
    get_request_queue,
    get_run,
)
from server.storage.models import Dataset, KeyValueStore, Run, User

Endpoint = Callable[[Request], Awaitable[Response]]
S = TypeVar("S")


async def _run(request: Request) -> tuple[AppState, User, Run]:
    state = state_of(request)
    async with state.db.read() as session:
        user = await authenticate(request, session)
        if "runId" in request.path_params:
            run = await get_run(session, user, request.path_params["runId"])
        else:
            run = await run_lists.find_last_run(request, session, user)
    return state, user, run


def _on_default(
    fetch: Callable[[AsyncSession, User, str], Awaitable[S]],
    storage_id: Callable[[Run], str],
    endpoint: Callable[[Request, AppState, User, S], Awaitable[Response]],
) -> Endpoint:
    """The endpoint on the run's default storage (the one storage_id names), fetched as fetch does."""

    async def handler(request: Request) -> Response:
        state, user, run = await _run(request)
        async with state.db.read() as session:
            storage = await fetch(session, user, storage_id(run))
        return await endpoint(request, state, user, storage)

    return handler


def _on_dataset(endpoint: Callable[[Request, AppState, User, Dataset], Awaitable[Response]]) -> Endpoint:
    return _on_default(get_dataset, _dataset_id, endpoint)


def _on_store(endpoint: Callable[[Request, AppState, User, KeyValueStore], Awaitable[Response]]) -> Endpoint:
    return _on_default(get_key_value_store, _store_id, endpoint)


def _on_queue(endpoint: QueueEndpoint) -> Endpoint:
    return _on_default(get_request_queue, _queue_id, endpoint)


def _with_path_param(endpoint: Endpoint, param: str, storage_id: Callable[[Run], str]) -> Endpoint:
    """For endpoints that resolve their storage from the path themselves (no *_for function)."""

    async def handler(request: Request) -> Response:
        _, _, run = await _run(request)
        scope = dict(request.scope)
        scope["path_params"] = {**request.path_params, param: storage_id(run)}
        return await endpoint(Request(scope, request.receive))

    return handler


def _signable(endpoint: Endpoint, param: str, storage_id: Callable[[Run], str], owned: Endpoint) -> Endpoint:
    """A read Apify signs, on a run's default storage: with a `signature` on /actor-runs/:runId, the
    storage endpoint itself decides (server/api/signed_reads.py: the storage's signature, else the
    owner's token), so a signed URL opens it without a token; otherwise as `owned` does."""

    async def handler(request: Request) -> Response:
        if not request.query_params.get("signature") or "runId" not in request.path_params:
            return await owned(request)
        async with state_of(request).db.read() as session:
            run = await find_run_of_anyone(session, request.path_params["runId"])
        if run is None:
            raise NotFound("Actor run was not found")
        scope = dict(request.scope)
        scope["path_params"] = {**request.path_params, param: storage_id(run)}
        return await endpoint(Request(scope, request.receive))

    return handler


def _dataset_id(run: Run) -> str:
    return run.default_dataset_id


def _store_id(run: Run) -> str:
    return run.default_key_value_store_id


def _queue_id(run: Run) -> str:
    return run.default_request_queue_id


dataset = _with_path_param(datasets.get, "datasetId", _dataset_id)
update_dataset = _on_dataset(datasets.update_for)
delete_dataset = _on_dataset(datasets.delete_for)
statistics = _on_dataset(datasets.statistics_for)
list_items = _signable(datasets.list_items, "datasetId", _dataset_id, _on_dataset(datasets.list_items_for))
push_items = _on_dataset(datasets.push_items_for)
key_value_store = _on_store(key_value_stores.get_store_for)
update_store = _on_store(key_value_stores.update_for)
delete_store = _on_store(key_value_stores.delete_for)
list_keys = _signable(
    key_value_stores.list_keys, "storeId", _store_id, _on_store(key_value_stores.list_keys_for)
)
records_archive = _signable(
    key_value_stores.records_archive, "storeId", _store_id, _on_store(key_value_stores.records_archive_for)
)
get_record = _signable(
    key_value_stores.get_record,
    "storeId",
    _store_id,
    _with_path_param(key_value_stores.get_record, "storeId", _store_id),
)
put_record = _with_path_param(key_value_stores.put_record, "storeId", _store_id)
delete_record = _with_path_param(key_value_stores.delete_record, "storeId", _store_id)


def storage_routes(base: str) -> list[BaseRoute]:
    """The default storages under base (/actor-runs/:runId or .../runs/last)."""
    record = f"{base}/key-value-store/records/{{recordKey:path}}"
    return [
        Route(f"{base}/dataset", dataset, methods=["GET"]),
        Route(f"{base}/dataset", update_dataset, methods=["PUT"]),
        Route(f"{base}/dataset", delete_dataset, methods=["DELETE"]),
        Route(f"{base}/dataset/items", list_items, methods=["GET", "HEAD"]),
        Route(f"{base}/dataset/items", push_items, methods=["POST"]),
        Route(f"{base}/dataset/statistics", statistics, methods=["GET"]),
        Route(f"{base}/key-value-store", key_value_store, methods=["GET"]),
        Route(f"{base}/key-value-store", update_store, methods=["PUT"]),
        Route(f"{base}/key-value-store", delete_store, methods=["DELETE"]),
        Route(f"{base}/key-value-store/keys", list_keys, methods=["GET"]),
        Route(f"{base}/key-value-store/records", records_archive, methods=["GET"]),
        Route(record, get_record, methods=["GET", "HEAD"]),
        Route(record, put_record, methods=["PUT", "POST"]),
        Route(record, delete_record, methods=["DELETE"]),
        *queue_routes(f"{base}/request-queue", _on_queue),
    ]


def owner_run_routes(base: str) -> list[BaseRoute]:
    """An actor's or task's runs under base: the list, the last run, its log and its storages."""
    last = f"{base}/runs/last"
    return [
        Route(f"{base}/runs", run_lists.list_, methods=["GET"]),
        Route(last, run_lists.last, methods=["GET"]),
        Route(f"{last}/log", logs.last, methods=["GET"]),
        Route(f"{last}/abort", run_control.abort_last, methods=["POST"]),
        Route(f"{last}/reboot", run_reboot.reboot_last, methods=["POST"]),
        Route(f"{last}/metamorph", run_reboot.metamorph_last, methods=["POST"]),
        Route(f"{last}/charge", charges.charge, methods=["POST"]),
        *storage_routes(last),
    ]
