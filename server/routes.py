"""The route table. /v2/acts and /v2/actors are the same routes."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from server.api import actors, datasets, key_value_stores, runs, tasks, users

ANY = ["GET", "POST"]


def _actor_routes(prefix: str) -> list[BaseRoute]:
    return [
        Route(f"/v2/{prefix}", actors.list_, methods=["GET"]),
        Route(f"/v2/{prefix}", actors.create, methods=["POST"]),
        Route(f"/v2/{prefix}/{{actorId}}", actors.get, methods=["GET"]),
        Route(f"/v2/{prefix}/{{actorId}}/runs", runs.start, methods=["POST"]),
        Route(f"/v2/{prefix}/{{actorId}}/run-sync", runs.run_sync, methods=ANY),
    ]


def routes() -> list[BaseRoute]:
    # {recordKey:path}: a key with an encoded "/" must reach the handler, which answers 400
    # invalid-record-key, rather than fall through to a 404 for an unknown route.
    return [
        *_actor_routes("acts"),
        *_actor_routes("actors"),
        Route("/v2/actor-tasks", tasks.list_, methods=["GET"]),
        Route("/v2/actor-tasks", tasks.create, methods=["POST"]),
        Route("/v2/actor-tasks/{actorTaskId}", tasks.get, methods=["GET"]),
        Route("/v2/actor-tasks/{actorTaskId}", tasks.update, methods=["PUT"]),
        Route("/v2/actor-tasks/{actorTaskId}", tasks.delete_, methods=["DELETE"]),
        Route("/v2/actor-tasks/{actorTaskId}/input", tasks.get_input, methods=["GET"]),
        Route("/v2/actor-tasks/{actorTaskId}/input", tasks.put_input, methods=["PUT"]),
        Route("/v2/actor-tasks/{actorTaskId}/runs", runs.start, methods=["POST"]),
        Route("/v2/actor-tasks/{actorTaskId}/run-sync", runs.run_sync, methods=ANY),
        Route("/v2/actor-runs/{runId}", runs.get, methods=["GET"]),
        Route("/v2/actor-runs/{runId}", runs.update, methods=["PUT"]),
        Route("/v2/actor-runs/{runId}/log", runs.log, methods=["GET"]),
        Route("/v2/logs/{logId}", runs.log, methods=["GET"]),
        Route("/v2/key-value-stores", key_value_stores.get_or_create, methods=["POST"]),
        Route("/v2/key-value-stores/{storeId}", key_value_stores.get_store, methods=["GET"]),
        Route(
            "/v2/key-value-stores/{storeId}/records/{recordKey:path}",
            key_value_stores.get_record,
            methods=["GET", "HEAD"],
        ),
        Route(
            "/v2/key-value-stores/{storeId}/records/{recordKey:path}",
            key_value_stores.put_record,
            methods=["PUT", "POST"],
        ),
        Route(
            "/v2/key-value-stores/{storeId}/records/{recordKey:path}",
            key_value_stores.delete_record,
            methods=["DELETE"],
        ),
        Route("/v2/datasets/{datasetId}", datasets.get, methods=["GET"]),
        Route("/v2/datasets/{datasetId}/items", datasets.list_items, methods=["GET"]),
        Route("/v2/datasets/{datasetId}/items", datasets.push_items, methods=["POST"]),
        Route("/v2/users/me", users.me, methods=["GET"]),
    ]
