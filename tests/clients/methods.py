"""The table: every public method of the official clients' resource and collection clients (Python
apify-client, sync and async, and the npm apify-client), each either called on a world and checked,
pending (being implemented on another branch: an expected failure until the merge), or not provided
with the reason. Rows run in the order listed.

A method that only hands out another client (actor.runs(), run.dataset()) sends no request: it is a
factory, listed in FACTORIES and walked into; the methods of what it returns are rows."""

from __future__ import annotations

import inspect
import json
import subprocess
from collections import Counter
from pathlib import Path

import apify_client._resource_clients as resource_clients
from apify_client import ApifyClientAsync

from tests.clients.methods_actors import ACTORS
from tests.clients.methods_datasets import DATASETS, STORES
from tests.clients.methods_hooks import LOGS, WEBHOOKS
from tests.clients.methods_queues import QUEUES
from tests.clients.methods_runs import RUNS
from tests.clients.methods_tasks import ACCOUNT, BUILDS, TASKS
from tests.clients.rows import Absent, Pending, Row, Works
from tests.npm import JS_DIR

TABLE: list[Row] = [*RUNS, *ACTORS, *BUILDS, *TASKS, *ACCOUNT, *DATASETS, *STORES, *QUEUES, *LOGS, *WEBHOOKS]

FACTORIES = {
    "py": {
        *(
            f"ApifyClient.{name}"
            for name in (
                "actor",
                "actors",
                "build",
                "builds",
                "dataset",
                "datasets",
                "key_value_store",
                "key_value_stores",
                "log",
                "request_queue",
                "request_queues",
                "run",
                "runs",
                "schedule",
                "schedules",
                "store",
                "task",
                "tasks",
                "user",
                "webhook",
                "webhook_dispatch",
                "webhook_dispatches",
                "webhooks",
            )
        ),
        "ActorClient.builds",
        "ActorClient.last_run",
        "ActorClient.runs",
        "ActorClient.version",
        "ActorClient.versions",
        "ActorClient.webhooks",
        "ActorVersionClient.env_var",
        "ActorVersionClient.env_vars",
        "BuildClient.log",
        "RunClient.dataset",
        "RunClient.key_value_store",
        "RunClient.log",
        "RunClient.request_queue",
        "TaskClient.last_run",
        "TaskClient.runs",
        "TaskClient.webhooks",
        "WebhookClient.dispatches",
    },
    "js": {
        *(
            f"ApifyClient.{name}"
            for name in (
                "actor",
                "actors",
                "build",
                "builds",
                "dataset",
                "datasets",
                "keyValueStore",
                "keyValueStores",
                "log",
                "requestQueue",
                "requestQueues",
                "run",
                "runs",
                "schedule",
                "schedules",
                "store",
                "task",
                "tasks",
                "user",
                "webhook",
                "webhookDispatch",
                "webhookDispatches",
                "webhooks",
            )
        ),
        "ActorClient.builds",
        "ActorClient.lastRun",
        "ActorClient.runs",
        "ActorClient.version",
        "ActorClient.versions",
        "ActorClient.webhooks",
        "ActorVersionClient.envVar",
        "ActorVersionClient.envVars",
        "BuildClient.log",
        "RunClient.dataset",
        "RunClient.keyValueStore",
        "RunClient.log",
        "RunClient.requestQueue",
        "TaskClient.lastRun",
        "TaskClient.runs",
        "TaskClient.webhooks",
        "WebhookClient.dispatches",
    },
}

METHODS_MD = Path(__file__).resolve().parent / "METHODS.md"


def listed(side: str) -> set[str]:
    """The methods the table has a row for (its first row, not a `via` one), as Class.method."""
    names = {"py": lambda r: r.py, "js": lambda r: r.js}[side]
    return {f"{r.cls}.{names(r)}" for r in TABLE if names(r) and r.via is None}


def _client_class(annotation: object, suffix: str) -> type | None:
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    found = getattr(resource_clients, str(name), None)
    return found if isinstance(found, type) and str(name).endswith(suffix) else None


def python_methods(root: type) -> tuple[set[str], set[str]]:
    """(methods, factories) of `root` and every client class its methods return, walked. A method
    returning a client that takes a request timeout sends a request first (actor.default_build()):
    a method, not a factory. Async class names are given without `Async`."""
    suffix = "ClientAsync" if root is ApifyClientAsync else "Client"
    methods: set[str] = set()
    factories: set[str] = set()
    todo, seen = [root], set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        name = cls.__name__.removesuffix("Async")
        for attr, fn in inspect.getmembers(cls, inspect.isfunction):
            if attr.startswith("_"):
                continue
            returned = _client_class(fn.__annotations__.get("return"), suffix)
            if returned is not None and "timeout" not in inspect.signature(fn).parameters:
                factories.add(f"{name}.{attr}")
                todo.append(returned)
            else:
                methods.add(f"{name}.{attr}")
    return methods, factories


def js_methods(node: str) -> tuple[set[str], set[str]]:
    done = subprocess.run(
        [node, "table.mjs", "list"], cwd=JS_DIR, capture_output=True, text=True, timeout=60, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return set(found["methods"]), set(found["factories"])


def _status(r: Row) -> str:
    if isinstance(r.status, Pending):
        return f"pending: {r.status.operation}"
    if isinstance(r.status, Absent):
        return f"not provided: {r.status.reason}"
    assert isinstance(r.status, Works)
    return "works"


def _cell(name: str | None) -> str:
    return f"`{name}`" if name else "—"


def render() -> str:
    """METHODS.md: the table as the README shows it."""
    lines = [
        "# The official clients' methods on Greenroom",
        "",
        "Generated from `tests/clients/methods.py` (`python -m tests.clients.methods` rewrites it;",
        "`tests/clients/test_methods.py` fails when it is stale). Python is `apify-client` (the sync",
        "`ApifyClient` and the async `ApifyClientAsync` have the same methods), JS is the npm",
        "`apify-client`. *works*: called on a real Greenroom by each client that has it, its result",
        "checked; *pending*: being implemented (the operation named); *not provided*: why. A row with",
        "a path after the method is a second way to reach a method listed above it.",
        "",
        "| Client | Python | JS | Status |",
        "|---|---|---|---|",
    ]
    # Grouped by client class, each class's rows in the order they run.
    for r in sorted(TABLE, key=lambda r: r.cls):
        via = f" (via `{r.via}`)" if r.via else ""
        lines.append(f"| {r.cls} | {_cell(r.py)}{via} | {_cell(r.js)}{via} | {_status(r)} |")
    lines.append("")
    for side, label in (("py", "Python"), ("js", "JS")):
        counts = Counter(r.status.label for r in TABLE if r.via is None and getattr(r, side))
        lines.append(
            f"{label}: {sum(counts.values())} methods: {counts['works']} work, {counts['pending']} pending, "
            f"{counts['not provided']} not provided."
        )
    lines += [
        "",
        "Methods that only hand out another client, without a request (`actor.runs()`, `run.dataset()`),",
        "besides `ApifyClient`'s own: "
        + ", ".join(f"`{f}`" for f in sorted(FACTORIES["py"]) if "ApifyClient." not in f),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    METHODS_MD.write_text(render())
    print(f"wrote {METHODS_MD}")
