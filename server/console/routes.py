"""The console's route table: pages at the root, assets under /static. None starts with /v2."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from server.console import account, actors, builds, runs, schedules, signin, storages, tasks, webhooks
from server.console.templating import HERE

POST = ["POST"]


def console_routes() -> list[BaseRoute]:
    return [
        Route("/", signin.home),
        Route("/sign-in", signin.sign_in_form),
        Route("/sign-in", signin.sign_in, methods=POST),
        Route("/sign-out", signin.sign_out, methods=POST),
        Route("/runs", runs.list_runs),
        Route("/runs/{runId}", runs.show_run),
        Route("/runs/{runId}/status", runs.run_status),
        Route("/runs/{runId}/log", runs.run_log),
        Route("/runs/{runId}/records/{key}", runs.run_record),
        Route("/runs/{runId}/abort", runs.abort, methods=POST),
        Route("/runs/{runId}/resurrect", runs.resurrect, methods=POST),
        Route("/actors", actors.list_actors),
        Route("/actors/{actorId}", actors.show_actor),
        Route("/actors/{actorId}/run", actors.run_actor, methods=POST),
        Route("/builds/{buildId}", builds.show_build),
        Route("/builds/{buildId}/log", builds.build_log),
        Route("/tasks", tasks.list_tasks),
        Route("/tasks", tasks.create, methods=POST),
        Route("/tasks/{taskId}", tasks.show_task),
        Route("/tasks/{taskId}/run", tasks.run_task, methods=POST),
        Route("/tasks/{taskId}/save", tasks.save_input, methods=POST),
        Route("/datasets", storages.list_storages),
        Route("/datasets/{datasetId}", storages.show_dataset),
        Route("/key-value-stores", storages.list_storages),
        Route("/key-value-stores/{storeId}", storages.show_store),
        Route("/key-value-stores/{storeId}/raw/{key:path}", storages.raw_record),
        Route("/request-queues", storages.list_storages),
        Route("/request-queues/{queueId}", storages.show_queue),
        Route("/webhooks", webhooks.list_webhooks),
        Route("/webhooks", webhooks.create, methods=POST),
        Route("/webhooks/{webhookId}", webhooks.show_webhook),
        Route("/webhooks/{webhookId}/test", webhooks.test, methods=POST),
        Route("/schedules", schedules.list_),
        Route("/schedules", schedules.create, methods=POST),
        Route("/schedules/{scheduleId}", schedules.show),
        Route("/schedules/{scheduleId}/switch", schedules.switch, methods=POST),
        Route("/tokens", account.tokens),
        Route("/tokens", account.new_token, methods=POST),
        Route("/tokens/{tokenId}/revoke", account.revoke, methods=POST),
        Route("/system", account.system),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
