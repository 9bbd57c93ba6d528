"""The route table, one section per resource. /v2/acts and /v2/actors are the same routes."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from server.api import (
    actors,
    datasets,
    key_value_stores,
    limits,
    logs,
    run_control,
    run_lists,
    run_reboot,
    run_storages,
    run_sync,
    runs,
    tasks,
    tokens,
    tools,
    users,
)
from server.console.routes import console_routes
from server.observability.routes import operations
from server.schedules.api import schedule_routes
from server.standby.api import standby_routes

ANY = ["GET", "POST"]


def _actors(prefix: str) -> list[BaseRoute]:
    from server.api import input_validation, versions  # imported here: the actors part of the table

    base = f"/v2/{prefix}"
    version = f"{base}/{{actorId}}/versions/{{versionNumber}}"
    env_var = f"{version}/env-vars/{{envVarName}}"
    return [
        Route(base, actors.list_, methods=["GET"]),
        Route(base, actors.create, methods=["POST"]),
        Route(f"{base}/{{actorId}}", actors.get, methods=["GET"]),
        Route(f"{base}/{{actorId}}", actors.update, methods=["PUT"]),
        Route(f"{base}/{{actorId}}", actors.delete_, methods=["DELETE"]),
        Route(f"{base}/{{actorId}}/runs", runs.start, methods=["POST"]),
        Route(f"{base}/{{actorId}}/run-sync", run_sync.run_sync, methods=ANY),
        Route(f"{base}/{{actorId}}/validate-input", input_validation.validate, methods=["POST"]),
        Route(f"{base}/{{actorId}}/versions", versions.list_versions, methods=["GET"]),
        Route(f"{base}/{{actorId}}/versions", versions.create_version, methods=["POST"]),
        Route(version, versions.get_version, methods=["GET"]),
        # POST on a version or env var is Apify's alias of PUT.
        Route(version, versions.update_version, methods=["PUT", "POST"]),
        Route(version, versions.delete_version, methods=["DELETE"]),
        Route(f"{version}/env-vars", versions.list_env_vars, methods=["GET"]),
        Route(f"{version}/env-vars", versions.create_env_var, methods=["POST"]),
        Route(env_var, versions.get_env_var, methods=["GET"]),
        Route(env_var, versions.update_env_var, methods=["PUT", "POST"]),
        Route(env_var, versions.delete_env_var, methods=["DELETE"]),
    ]


def _actor_runs(prefix: str) -> list[BaseRoute]:
    """An actor's runs: lists, the last run and its sub-resources, then Apify's deprecated
    .../runs/{runId} spellings (after .../runs/last, which they would otherwise swallow)."""
    from server.api import run_aliases  # imported here: this function is its part of the table

    run = f"/v2/{prefix}/{{actorId}}/runs/{{runId}}"
    return [
        *run_storages.owner_run_routes(f"/v2/{prefix}/{{actorId}}"),
        Route(run, run_aliases.get, methods=["GET"]),
        Route(f"{run}/abort", run_aliases.abort, methods=["POST"]),
        Route(f"{run}/resurrect", run_aliases.resurrect, methods=["POST"]),
        Route(f"{run}/metamorph", run_reboot.metamorph, methods=["POST"]),
    ]


def _builds() -> list[BaseRoute]:
    """An actor's builds (both prefixes; /builds/default before /builds/{buildId}) and /v2/actor-builds."""
    from server.api import builds  # imported here: this function is the builds part of the table

    out: list[BaseRoute] = []
    for prefix in ("acts", "actors"):
        base = f"/v2/{prefix}/{{actorId}}/builds"
        out += [
            Route(base, builds.list_for_actor, methods=["GET"]),
            Route(base, builds.create, methods=["POST"]),
            Route(f"{base}/default", builds.get_default, methods=["GET"]),
            # Apify's deprecated spellings of the two below.
            Route(f"{base}/{{buildId}}", builds.get, methods=["GET"]),
            Route(f"{base}/{{buildId}}/abort", builds.abort, methods=["POST"]),
            Route(f"{base}/{{buildId}}/openapi.json", builds.openapi, methods=["GET"]),
        ]
    base = "/v2/actor-builds"
    return [
        *out,
        Route(base, builds.list_for_user, methods=["GET"]),
        Route(f"{base}/{{buildId}}", builds.get, methods=["GET"]),
        Route(f"{base}/{{buildId}}", builds.delete_, methods=["DELETE"]),
        Route(f"{base}/{{buildId}}/abort", builds.abort, methods=["POST"]),
        Route(f"{base}/{{buildId}}/log", builds.log, methods=["GET"]),
        Route(f"{base}/{{buildId}}/openapi.json", builds.openapi, methods=["GET"]),
    ]


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
        Route(f"{base}/{{actorTaskId}}/run-sync", run_sync.run_sync, methods=ANY),
    ]


def _task_runs() -> list[BaseRoute]:
    """A task's runs: lists, the last run and its sub-resources."""
    return run_storages.owner_run_routes("/v2/actor-tasks/{actorTaskId}")


def _run_sync_dataset_items() -> list[BaseRoute]:
    """run-sync-get-dataset-items for tasks and actors (both prefixes)."""
    from server.api import run_sync_items  # imported here: this function is its part of the table

    handler = run_sync_items.run_sync_get_dataset_items
    return [
        Route("/v2/actor-tasks/{actorTaskId}/run-sync-get-dataset-items", handler, methods=ANY),
        Route("/v2/acts/{actorId}/run-sync-get-dataset-items", handler, methods=ANY),
        Route("/v2/actors/{actorId}/run-sync-get-dataset-items", handler, methods=ANY),
    ]


def _runs() -> list[BaseRoute]:
    base = "/v2/actor-runs"
    return [
        Route(base, run_lists.list_, methods=["GET"]),
        Route(f"{base}/{{runId}}", runs.get, methods=["GET"]),
        Route(f"{base}/{{runId}}", runs.update, methods=["PUT"]),
        Route(f"{base}/{{runId}}", run_lists.delete, methods=["DELETE"]),
        Route(f"{base}/{{runId}}/log", logs.get, methods=["GET"]),
        Route("/v2/logs/{logId}", logs.get, methods=["GET"]),
        *run_storages.storage_routes(f"{base}/{{runId}}"),
    ]


def _run_control() -> list[BaseRoute]:
    """Abort, resurrect, reboot and metamorph, and pay-per-event charges."""
    from server.api import charges  # imported here: this function is its part of the table

    base = "/v2/actor-runs/{runId}"
    return [
        Route(f"{base}/abort", run_control.abort, methods=["POST"]),
        Route(f"{base}/resurrect", run_control.resurrect, methods=["POST"]),
        Route(f"{base}/reboot", run_reboot.reboot, methods=["POST"]),
        Route(f"{base}/metamorph", run_reboot.metamorph, methods=["POST"]),
        Route(f"{base}/charge", charges.charge, methods=["POST"]),
    ]


def _key_value_stores() -> list[BaseRoute]:
    base = "/v2/key-value-stores"
    # {recordKey:path}: a key with an encoded "/" must reach the handler, which answers 400
    # invalid-record-key, rather than fall through to a 404 for an unknown route.
    record = f"{base}/{{storeId}}/records/{{recordKey:path}}"
    return [
        Route(base, key_value_stores.list_, methods=["GET"]),
        Route(base, key_value_stores.get_or_create, methods=["POST"]),
        Route(f"{base}/{{storeId}}", key_value_stores.get_store, methods=["GET"]),
        Route(f"{base}/{{storeId}}", key_value_stores.update, methods=["PUT"]),
        Route(f"{base}/{{storeId}}", key_value_stores.delete_, methods=["DELETE"]),
        Route(f"{base}/{{storeId}}/keys", key_value_stores.list_keys, methods=["GET"]),
        Route(f"{base}/{{storeId}}/records", key_value_stores.records_archive, methods=["GET"]),
        Route(record, key_value_stores.get_record, methods=["GET", "HEAD"]),
        Route(record, key_value_stores.put_record, methods=["PUT", "POST"]),
        Route(record, key_value_stores.delete_record, methods=["DELETE"]),
    ]


def _datasets() -> list[BaseRoute]:
    base = "/v2/datasets"
    return [
        Route(base, datasets.list_, methods=["GET"]),
        Route(base, datasets.get_or_create, methods=["POST"]),
        Route(f"{base}/{{datasetId}}", datasets.get, methods=["GET"]),
        Route(f"{base}/{{datasetId}}", datasets.update, methods=["PUT"]),
        Route(f"{base}/{{datasetId}}", datasets.delete_, methods=["DELETE"]),
        # GET also answers HEAD (Starlette adds it): the same headers, no body.
        Route(f"{base}/{{datasetId}}/items", datasets.list_items, methods=["GET", "HEAD"]),
        Route(f"{base}/{{datasetId}}/items", datasets.push_items, methods=["POST"]),
        Route(f"{base}/{{datasetId}}/statistics", datasets.statistics, methods=["GET"]),
    ]


def _request_queues() -> list[BaseRoute]:
    from server.api import queue_params, queue_routes, request_queues

    base = "/v2/request-queues"
    return [
        Route(base, request_queues.list_, methods=["GET"]),
        Route(base, request_queues.get_or_create, methods=["POST"]),
        *queue_routes.queue_routes(f"{base}/{{queueId}}", queue_params.by_path),
    ]


def _webhooks() -> list[BaseRoute]:
    """Webhooks and their dispatches, and the webhooks of an actor (both prefixes) or a task."""
    from server.api import webhooks  # imported here: this function is the webhooks part of the table

    base = "/v2/webhooks"
    return [
        Route(base, webhooks.list_, methods=["GET"]),
        Route(base, webhooks.create, methods=["POST"]),
        Route(f"{base}/{{webhookId}}", webhooks.get, methods=["GET"]),
        Route(f"{base}/{{webhookId}}", webhooks.update, methods=["PUT"]),
        Route(f"{base}/{{webhookId}}", webhooks.delete_, methods=["DELETE"]),
        Route(f"{base}/{{webhookId}}/test", webhooks.test, methods=["POST"]),
        Route(f"{base}/{{webhookId}}/dispatches", webhooks.dispatches_of, methods=["GET"]),
        Route("/v2/webhook-dispatches", webhooks.list_dispatches, methods=["GET"]),
        Route("/v2/webhook-dispatches/{dispatchId}", webhooks.get_dispatch, methods=["GET"]),
        Route("/v2/acts/{actorId}/webhooks", webhooks.list_for_actor, methods=["GET"]),
        Route("/v2/actors/{actorId}/webhooks", webhooks.list_for_actor, methods=["GET"]),
        Route("/v2/actor-tasks/{actorTaskId}/webhooks", webhooks.list_for_task, methods=["GET"]),
    ]


def _users() -> list[BaseRoute]:
    return [
        Route("/v2/users/me", users.me, methods=["GET"]),
        Route("/v2/users/me/usage/monthly", users.monthly_usage, methods=["GET"]),
        Route("/v2/users/me/limits", limits.get_limits, methods=["GET"]),
        Route("/v2/users/me/limits", limits.put_limits, methods=["PUT"]),
        Route("/v2/users/me/tokens", tokens.list_, methods=["GET"]),
        Route("/v2/users/me/tokens", tokens.create, methods=["POST"]),
        Route("/v2/users/me/tokens/{tokenId}", tokens.delete_, methods=["DELETE"]),
        Route("/v2/users/{userId}", users.public, methods=["GET"]),
    ]


def _tools() -> list[BaseRoute]:
    return [
        Route("/v2/tools/encode-and-sign", tools.encode_and_sign, methods=["POST"]),
        Route("/v2/tools/decode-and-verify", tools.decode_and_verify, methods=["POST"]),
        Route("/v2/browser-info", tools.browser_info, methods=["GET", "POST", "PUT", "DELETE"]),
    ]


def routes() -> list[BaseRoute]:
    return [
        *operations(),
        *_actors("acts"),
        *_actors("actors"),
        *_actor_runs("acts"),
        *_actor_runs("actors"),
        *_builds(),
        *_tasks(),
        *_task_runs(),
        *_run_sync_dataset_items(),
        *_runs(),
        *_run_control(),
        *_key_value_stores(),
        *_datasets(),
        *_request_queues(),
        *_webhooks(),
        *schedule_routes(),
        *standby_routes(),
        *_users(),
        *_tools(),
        # After every /v2 route: the console's pages never shadow the API.
        *console_routes(),
    ]
