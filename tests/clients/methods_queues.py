"""Rows: request queues."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.clients.rows import Row, field_of, gone, has, js_gone, js_has, row
from tests.clients.world import World


def _locks(c: Any, w: World) -> Any:
    return c.request_queue(w.lock_queue_id, client_key="world")


JS_LOCKS = "c.requestQueue(w.lock_queue_id, { clientKey: 'world' })"
NEW = {"url": "https://example.com/new", "uniqueKey": "new"}

QUEUES: list[Row] = [
    row(
        "RequestQueueCollectionClient",
        "get_or_create",
        "getOrCreate",
        lambda c, w: c.request_queues().get_or_create(name="world-queue"),
        "return (await c.requestQueues().getOrCreate('world-queue')).id;",
        lambda w: w.queue_id,
        pick=field_of("id"),
    ),
    row(
        "RequestQueueCollectionClient",
        "list",
        "list",
        lambda c, w: c.request_queues().list(),
        js_has("c.requestQueues().list()", "queue_id"),
        lambda w: True,
        pick=has("queue_id"),
    ),
    row(
        "RequestQueueCollectionClient",
        "iterate",
        None,
        lambda c, w: c.request_queues().iterate(),
        None,
        lambda w: True,
        pick=has("queue_id"),
    ),
    row(
        "RequestQueueClient",
        "get",
        "get",
        lambda c, w: c.request_queue(w.queue_id).get(),
        "return (await c.requestQueue(w.queue_id).get()).name;",
        lambda w: "world-queue",
        pick=field_of("name"),
    ),
    row(
        "RequestQueueClient",
        "get_request",
        "getRequest",
        lambda c, w: c.request_queue(w.queue_id).get_request(w.queue_request_id),
        "return (await c.requestQueue(w.queue_id).getRequest(w.queue_request_id)).url;",
        lambda w: "https://example.com/0",
        pick=field_of("url"),
    ),
    row(
        "RequestQueueClient",
        "list_requests",
        "listRequests",
        lambda c, w: c.request_queue(w.queue_id).list_requests(),
        js_has("c.requestQueue(w.queue_id).listRequests()", "queue_request_id"),
        lambda w: True,
        pick=has("queue_request_id"),
    ),
    row(
        "RequestQueueClient",
        "iterate_requests",
        "paginateRequests",
        lambda c, w: c.request_queue(w.queue_id).iterate_requests(),
        "const ids = []; for await (const page of c.requestQueue(w.queue_id).paginateRequests())"
        " ids.push(...page.items.map((r) => r.id)); return ids.includes(w.queue_request_id);",
        lambda w: True,
        pick=has("queue_request_id"),
    ),
    row(
        "RequestQueueClient",
        "list_head",
        "listHead",
        lambda c, w: c.request_queue(w.queue_id).list_head(),
        js_has("c.requestQueue(w.queue_id).listHead()", "queue_request_id"),
        lambda w: True,
        pick=has("queue_request_id"),
    ),
    row(
        "RequestQueueClient",
        "add_request",
        "addRequest",
        lambda c, w: c.request_queue(w.queue_id).add_request(NEW),
        "return (await c.requestQueue(w.queue_id).addRequest(NEW)).wasAlreadyPresent;",
        lambda w: False,
        pick=field_of("was_already_present"),
    ),
    row(
        "RequestQueueClient",
        "batch_add_requests",
        "batchAddRequests",
        lambda c, w: c.request_queue(w.queue_id).batch_add_requests(
            [{"url": "https://example.com/b", "uniqueKey": "b"}]
        ),
        "return (await c.requestQueue(w.queue_id).batchAddRequests([{ url: 'https://example.com/b',"
        " uniqueKey: 'b' }]))"
        ".processedRequests.length;",
        lambda w: 1,
        pick=lambda r, w: len(r.processed_requests),
    ),
    row(
        "RequestQueueClient",
        "update_request",
        "updateRequest",
        lambda c, w: c.request_queue(w.queue_id).update_request(
            {
                "id": w.queue_request_id,
                "url": "https://example.com/0",
                "uniqueKey": "https://example.com/0",
                "userData": {"seen": 1},
            }
        ),
        "return (await c.requestQueue(w.queue_id).updateRequest({ id: w.queue_request_id, url:"
        " 'https://example.com/0',"
        " uniqueKey: 'https://example.com/0', userData: { seen: 1 } })).requestId;",
        lambda w: w.queue_request_id,
        pick=field_of("request_id"),
    ),
    row(
        "RequestQueueClient",
        "list_and_lock_head",
        "listAndLockHead",
        lambda c, w: c.request_queue(w.queue_id, client_key="head").list_and_lock_head(
            lock_duration=timedelta(seconds=60), limit=1
        ),
        "return (await c.requestQueue(w.queue_id, { clientKey: 'head' }).listAndLockHead({ lockSecs: 60,"
        " limit: 1 }))"
        ".items.length;",
        lambda w: 1,
        pick=lambda r, w: len(r.items),
    ),
    row(
        "RequestQueueClient",
        "prolong_request_lock",
        "prolongRequestLock",
        lambda c, w: _locks(c, w).prolong_request_lock(
            w.locked_request_ids[0], lock_duration=timedelta(seconds=120)
        ),
        f"return (await {JS_LOCKS}.prolongRequestLock(w.locked_request_ids[0], {{ lockSecs: 120"
        f" }})).lockExpiresAt"
        " !== undefined;",
        lambda w: True,
        pick=lambda r, w: r.lock_expires_at is not None,
    ),
    row(
        "RequestQueueClient",
        "delete_request_lock",
        "deleteRequestLock",
        lambda c, w: _locks(c, w).delete_request_lock(w.locked_request_ids[1]),
        f"await {JS_LOCKS}.deleteRequestLock(w.locked_request_ids[1]);"
        " return (await c.requestQueue(w.lock_queue_id).listHead()).items.map((r) => r.id)"
        ".includes(w.locked_request_ids[1]);",
        lambda w: True,
        pick=lambda r, w: (
            w.locked_request_ids[1]
            in [i["id"] for i in w.read(f"/request-queues/{w.lock_queue_id}/head")["items"]]
        ),
    ),
    row(
        "RequestQueueClient",
        "unlock_requests",
        "unlockRequests",
        lambda c, w: _locks(c, w).unlock_requests(),
        f"return (await {JS_LOCKS}.unlockRequests()).unlockedCount;",
        lambda w: 1,
        pick=field_of("unlocked_count"),
    ),
    row(
        "RequestQueueClient",
        "update",
        "update",
        lambda c, w: c.request_queue(w.queue_id).update(name="queue-renamed"),
        "return (await c.requestQueue(w.queue_id).update({ name: 'queue-renamed' })).name;",
        lambda w: "queue-renamed",
        pick=field_of("name"),
    ),
    row(
        "RequestQueueClient",
        "delete_request",
        "deleteRequest",
        lambda c, w: c.request_queue(w.queue_id).delete_request(w.drop_request_id),
        "await c.requestQueue(w.queue_id).deleteRequest(w.drop_request_id);"
        " return (await c.requestQueue(w.queue_id).getRequest(w.drop_request_id)) === undefined;",
        lambda w: True,
        pick=gone("/request-queues/{w.queue_id}/requests/{w.drop_request_id}"),
    ),
    row(
        "RequestQueueClient",
        "batch_delete_requests",
        "batchDeleteRequests",
        lambda c, w: c.request_queue(w.queue_id).batch_delete_requests(
            [{"uniqueKey": k} for k in w.drop_unique_keys]
        ),
        "return (await c.requestQueue(w.queue_id).batchDeleteRequests(w.drop_unique_keys.map((k) => ({"
        " uniqueKey: k }))))"
        ".processedRequests.length;",
        lambda w: 2,
        pick=lambda r, w: len(r.processed_requests),
    ),
    row(
        "RequestQueueClient",
        "update",
        "update",
        lambda c, w: c.run(w.run_id).request_queue().update(name="run-queue"),
        "return (await c.run(w.run_id).requestQueue().update({ name: 'run-queue' })).name;",
        lambda w: "run-queue",
        pick=field_of("name"),
        via="run.request_queue()",
    ),
    row(
        "RequestQueueClient",
        "delete",
        "delete",
        lambda c, w: c.run(w.old_run_id).request_queue().delete(),
        js_gone("c.run(w.old_run_id).requestQueue()"),
        lambda w: True,
        pick=gone("/actor-runs/{w.old_run_id}/request-queue"),
        via="run.request_queue()",
    ),
    row(
        "RequestQueueClient",
        "delete",
        "delete",
        lambda c, w: c.request_queue(w.spare_queue_id).delete(),
        js_gone("c.requestQueue(w.spare_queue_id)"),
        lambda w: True,
        pick=gone("/request-queues/{w.spare_queue_id}"),
    ),
]
