"""The route table, one section per resource. /v2/acts and /v2/actors are the same routes."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from server.api import actors, datasets, key_value_stores, runs, tasks, users

ANY = ["GET", "POST"]


def _actors(prefix: str) -> list[BaseRoute]:
    base = f"/v2/{prefix}"
    return [
        Route(base, actors.list_, methods=["GET"]),
        Route(base, actors.create, methods=["POST"]),
        Route(f"{base}/{{actorId}}", actors.get, methods=["GET"]),
        Route(f"{base}/{{actorId}}/runs", runs.start, methods=["POST"]),
        Route(f"{base}/{{actorId}}/run-sync", runs.run_sync, methods=ANY),
    ]


def _actor_runs(prefix: str) -> list[BaseRoute]:
    """An actor's runs: lists, the last run and its sub-resources."""
    return []


def _tasks() -> list[BaseRoute]:
    base = "/v2/actor-tasks"
    return [
        Route(base, tasks.list_, methods=["GET"]),
        Route(base, tasks.create, methods=["POST"]),
        Route(f"{base}/{{actorTaskId}}", tasks.get, methods=["GET"]),
        Route(f"{base}/{{actorTaskId}}", tasks.update, methods=["PUT"]),
        Route(f"{base}/{{actorTaskId}}", tasks.delete_, methods=["DELETE"]),
        Route(f"{base}/{{actorTaskId}}/input", tasks.get_input, methods=["GET"]),
        Route(f"{base}/{{actorTaskId}}/input", tasks.put_input, methods=["PUT"]),
        Route(f"{base}/{{actorTaskId}}/runs", runs.start, methods=["POST"]),
        Route(f"{base}/{{actorTaskId}}/run-sync", runs.run_sync, methods=ANY),
    ]


def _task_runs() -> list[BaseRoute]:
    """A task's runs: lists, the last run and its sub-resources."""
    return []


def _run_sync_dataset_items() -> list[BaseRoute]:
    """run-sync-get-dataset-items for tasks and actors (both prefixes)."""
    return []


def _runs() -> list[BaseRoute]:
    base = "/v2/actor-runs"
    return [
        Route(f"{base}/{{runId}}", runs.get, methods=["GET"]),
        Route(f"{base}/{{runId}}", runs.update, methods=["PUT"]),
        Route(f"{base}/{{runId}}/log", runs.log, methods=["GET"]),
        Route("/v2/logs/{logId}", runs.log, methods=["GET"]),
    ]


def _run_control() -> list[BaseRoute]:
    """Abort and resurrect."""
    return []


def _key_value_stores() -> list[BaseRoute]:
    base = "/v2/key-value-stores"
    # {recordKey:path}: a key with an encoded "/" must reach the handler, which answers 400
    # invalid-record-key, rather than fall through to a 404 for an unknown route.
    record = f"{base}/{{storeId}}/records/{{recordKey:path}}"
    return [
        Route(base, key_value_stores.get_or_create, methods=["POST"]),
        Route(f"{base}/{{storeId}}", key_value_stores.get_store, methods=["GET"]),
        Route(record, key_value_stores.get_record, methods=["GET", "HEAD"]),
        Route(record, key_value_stores.put_record, methods=["PUT", "POST"]),
        Route(record, key_value_stores.delete_record, methods=["DELETE"]),
    ]


def _datasets() -> list[BaseRoute]:
    base = "/v2/datasets"
    return [
        Route(f"{base}/{{datasetId}}", datasets.get, methods=["GET"]),
        Route(f"{base}/{{datasetId}}/items", datasets.list_items, methods=["GET"]),
        Route(f"{base}/{{datasetId}}/items", datasets.push_items, methods=["POST"]),
    ]


def _users() -> list[BaseRoute]:
    return [Route("/v2/users/me", users.me, methods=["GET"])]


def routes() -> list[BaseRoute]:
    return [
        *_actors("acts"),
        *_actors("actors"),
        *_actor_runs("acts"),
        *_actor_runs("actors"),
        *_tasks(),
        *_task_runs(),
        *_run_sync_dataset_items(),
        *_runs(),
        *_run_control(),
        *_key_value_stores(),
        *_datasets(),
        *_users(),
    ]
