"""Rows: datasets, key-value stores, request queues, logs and webhooks."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx

from tests.clients.rows import Pending, Row, field_of, row
from tests.clients.world import HOOK_URL, ITEMS, World

SIGNED = "signed public URLs (signature, url_signing_secret_key)"
RUN_STORAGE = "PUT/DELETE of a run's default {} (/v2/actor-runs/{{runId}}/{})"


def _public(url: str, world: World) -> Any:
    """What a public URL serves, fetched without the token."""
    response = httpx.get(url)
    response.raise_for_status()
    return response.json()


def _ids(result: Any) -> list[str]:
    return [item.id for item in (result if isinstance(result, list) else result.items)]


def _has(attr: str) -> Any:
    return lambda result, world: getattr(world, attr) in _ids(result)


def _js_has(call: str, attr: str) -> str:
    return f"return (await {call}).items.map((x) => x.id).includes(w.{attr});"


def _gone(path: str) -> Any:
    return lambda result, world: world.read(path.format(w=world)) is None


def _js_gone(client: str) -> str:
    return f"await {client}.delete(); return (await {client}.get()) === undefined;"


DATASETS: list[Row] = [
    row(
        "DatasetCollectionClient",
        "get_or_create",
        "getOrCreate",
        lambda c, w: c.datasets().get_or_create(name="world-items"),
        "return (await c.datasets().getOrCreate('world-items')).id;",
        lambda w: w.dataset_id,
        pick=field_of("id"),
    ),
    row(
        "DatasetCollectionClient",
        "list",
        "list",
        lambda c, w: c.datasets().list(),
        _js_has("c.datasets().list()", "dataset_id"),
        lambda w: True,
        pick=_has("dataset_id"),
    ),
    row(
        "DatasetCollectionClient",
        "iterate",
        None,
        lambda c, w: c.datasets().iterate(),
        None,
        lambda w: True,
        pick=_has("dataset_id"),
    ),
    row(
        "DatasetClient",
        "get",
        "get",
        lambda c, w: c.dataset(w.dataset_id).get(),
        "return (await c.dataset(w.dataset_id).get()).itemCount;",
        lambda w: len(ITEMS),
        pick=field_of("item_count"),
    ),
    row(
        "DatasetClient",
        "list_items",
        "listItems",
        lambda c, w: c.dataset(w.dataset_id).list_items(),
        "return (await c.dataset(w.dataset_id).listItems()).items;",
        lambda w: ITEMS,
        pick=field_of("items"),
    ),
    row(
        "DatasetClient",
        "iterate_items",
        None,
        lambda c, w: c.dataset(w.dataset_id).iterate_items(),
        None,
        lambda w: ITEMS,
    ),
    row(
        "DatasetClient",
        "get_items_as_bytes",
        "downloadItems",
        lambda c, w: c.dataset(w.dataset_id).get_items_as_bytes(item_format="json"),
        "return JSON.parse((await c.dataset(w.dataset_id).downloadItems('json')).toString('utf-8'));",
        lambda w: ITEMS,
        pick=lambda r, w: json.loads(r),
    ),
    row(
        "DatasetClient",
        "stream_items",
        None,
        lambda c, w: c.dataset(w.dataset_id).stream_items(item_format="json"),
        None,
        lambda w: ITEMS,
        pick=lambda r, w: json.loads(r),
    ),
    row(
        "DatasetClient",
        "update",
        "update",
        lambda c, w: c.dataset(w.dataset_id).update(name="world-items-renamed"),
        "return (await c.dataset(w.dataset_id).update({ name: 'world-items-renamed' })).name;",
        lambda w: "world-items-renamed",
        pick=field_of("name"),
    ),
    row(
        "DatasetClient",
        "push_items",
        "pushItems",
        lambda c, w: c.dataset(w.spare_dataset_id).push_items([{"p": 1}]),
        "await c.dataset(w.spare_dataset_id).pushItems([{ p: 1 }]);"
        " return (await c.dataset(w.spare_dataset_id).listItems()).items;",
        lambda w: [{"p": 1}],
        pick=lambda r, w: w.api.get(f"/datasets/{w.spare_dataset_id}/items").json(),
    ),
    row(
        "DatasetClient",
        "get_statistics",
        "getStatistics",
        lambda c, w: c.dataset(w.dataset_id).get_statistics(),
        "return (await c.dataset(w.dataset_id).getStatistics()) !== undefined;",
        lambda w: True,
        pick=lambda r, w: r is not None,
        status=Pending("GET /v2/datasets/{datasetId}/statistics"),
    ),
    row(
        "DatasetClient",
        "create_items_public_url",
        "createItemsPublicUrl",
        lambda c, w: c.dataset(w.dataset_id).create_items_public_url(),
        "return await (await fetch(await c.dataset(w.dataset_id).createItemsPublicUrl())).json();",
        lambda w: ITEMS,
        pick=_public,
        status=Pending(SIGNED),
    ),
    row(
        "DatasetClient",
        "update",
        "update",
        lambda c, w: c.run(w.run_id).dataset().update(name="run-items"),
        "return (await c.run(w.run_id).dataset().update({ name: 'run-items' })).name;",
        lambda w: "run-items",
        pick=field_of("name"),
        status=Pending(RUN_STORAGE.format("dataset", "dataset")),
        via="run.dataset()",
    ),
    row(
        "DatasetClient",
        "delete",
        "delete",
        lambda c, w: c.run(w.old_run_id).dataset().delete(),
        _js_gone("c.run(w.old_run_id).dataset()"),
        lambda w: True,
        pick=_gone("/actor-runs/{w.old_run_id}/dataset"),
        status=Pending(RUN_STORAGE.format("dataset", "dataset")),
        via="run.dataset()",
    ),
    row(
        "DatasetClient",
        "delete",
        "delete",
        lambda c, w: c.dataset(w.spare_dataset_id).delete(),
        _js_gone("c.dataset(w.spare_dataset_id)"),
        lambda w: True,
        pick=_gone("/datasets/{w.spare_dataset_id}"),
    ),
]

STORES: list[Row] = [
    row(
        "KeyValueStoreCollectionClient",
        "get_or_create",
        "getOrCreate",
        lambda c, w: c.key_value_stores().get_or_create(name="world-records"),
        "return (await c.keyValueStores().getOrCreate('world-records')).id;",
        lambda w: w.store_id,
        pick=field_of("id"),
    ),
    row(
        "KeyValueStoreCollectionClient",
        "list",
        "list",
        lambda c, w: c.key_value_stores().list(),
        _js_has("c.keyValueStores().list()", "store_id"),
        lambda w: True,
        pick=_has("store_id"),
    ),
    row(
        "KeyValueStoreCollectionClient",
        "iterate",
        None,
        lambda c, w: c.key_value_stores().iterate(),
        None,
        lambda w: True,
        pick=_has("store_id"),
    ),
    row(
        "KeyValueStoreClient",
        "get",
        "get",
        lambda c, w: c.key_value_store(w.store_id).get(),
        "return (await c.keyValueStore(w.store_id).get()).name;",
        lambda w: "world-records",
        pick=field_of("name"),
    ),
    row(
        "KeyValueStoreClient",
        "get_record",
        "getRecord",
        lambda c, w: c.key_value_store(w.store_id).get_record("json"),
        "return (await c.keyValueStore(w.store_id).getRecord('json')).value;",
        lambda w: {"a": 1},
        pick=field_of("value"),
    ),
    row(
        "KeyValueStoreClient",
        "get_record_as_bytes",
        None,
        lambda c, w: c.key_value_store(w.store_id).get_record_as_bytes("text"),
        None,
        lambda w: b"hello",
        pick=field_of("value"),
    ),
    row(
        "KeyValueStoreClient",
        "stream_record",
        None,
        lambda c, w: c.key_value_store(w.store_id).stream_record("text"),
        None,
        lambda w: b"hello",
        pick=field_of("value"),
    ),
    row(
        "KeyValueStoreClient",
        "record_exists",
        "recordExists",
        lambda c, w: c.key_value_store(w.store_id).record_exists("json"),
        "return await c.keyValueStore(w.store_id).recordExists('json');",
        lambda w: True,
    ),
    row(
        "KeyValueStoreClient",
        "list_keys",
        "listKeys",
        lambda c, w: c.key_value_store(w.store_id).list_keys(),
        "return (await c.keyValueStore(w.store_id).listKeys()).items.map((k) => k.key);",
        lambda w: ["drop", "json", "text"],
        pick=lambda r, w: [k.key for k in r.items],
    ),
    row(
        "KeyValueStoreClient",
        "iterate_keys",
        None,
        lambda c, w: c.key_value_store(w.store_id).iterate_keys(),
        None,
        lambda w: ["drop", "json", "text"],
        pick=lambda r, w: [k.key for k in r],
    ),
    row(
        "KeyValueStoreClient",
        "set_record",
        "setRecord",
        lambda c, w: c.key_value_store(w.store_id).set_record("made", {"m": 1}),
        "await c.keyValueStore(w.store_id).setRecord({ key: 'made', value: { m: 1 } });"
        " return (await c.keyValueStore(w.store_id).getRecord('made')).value;",
        lambda w: {"m": 1},
        pick=lambda r, w: w.api.get(f"/key-value-stores/{w.store_id}/records/made").json(),
    ),
    row(
        "KeyValueStoreClient",
        "update",
        "update",
        lambda c, w: c.key_value_store(w.store_id).update(name="records-renamed"),
        "return (await c.keyValueStore(w.store_id).update({ name: 'records-renamed' })).name;",
        lambda w: "records-renamed",
        pick=field_of("name"),
    ),
    row(
        "KeyValueStoreClient",
        "delete_record",
        "deleteRecord",
        lambda c, w: c.key_value_store(w.store_id).delete_record("drop"),
        "await c.keyValueStore(w.store_id).deleteRecord('drop');"
        " return !(await c.keyValueStore(w.store_id).recordExists('drop'));",
        lambda w: True,
        pick=_gone("/key-value-stores/{w.store_id}/records/drop"),
    ),
    row(
        "KeyValueStoreClient",
        "get_record_public_url",
        "getRecordPublicUrl",
        lambda c, w: c.key_value_store(w.store_id).get_record_public_url("json"),
        "return await (await fetch(await c.keyValueStore(w.store_id).getRecordPublicUrl('json'))).json();",
        lambda w: {"a": 1},
        pick=_public,
        status=Pending(SIGNED),
    ),
    row(
        "KeyValueStoreClient",
        "create_keys_public_url",
        "createKeysPublicUrl",
        lambda c, w: c.key_value_store(w.store_id).create_keys_public_url(),
        "return (await (await fetch(await c.keyValueStore(w.store_id).createKeysPublicUrl())).json())"
        ".data.items.map((k) => k.key).includes('json');",
        lambda w: True,
        pick=lambda r, w: "json" in [k["key"] for k in _public(r, w)["data"]["items"]],
        status=Pending(SIGNED),
    ),
    row(
        "KeyValueStoreClient",
        "update",
        "update",
        lambda c, w: c.run(w.run_id).key_value_store().update(name="run-records"),
        "return (await c.run(w.run_id).keyValueStore().update({ name: 'run-records' })).name;",
        lambda w: "run-records",
        pick=field_of("name"),
        status=Pending(RUN_STORAGE.format("key-value store", "key-value-store")),
        via="run.key_value_store()",
    ),
    row(
        "KeyValueStoreClient",
        "delete",
        "delete",
        lambda c, w: c.run(w.old_run_id).key_value_store().delete(),
        _js_gone("c.run(w.old_run_id).keyValueStore()"),
        lambda w: True,
        pick=_gone("/actor-runs/{w.old_run_id}/key-value-store"),
        status=Pending(RUN_STORAGE.format("key-value store", "key-value-store")),
        via="run.key_value_store()",
    ),
    row(
        "KeyValueStoreClient",
        "delete",
        "delete",
        lambda c, w: c.key_value_store(w.spare_store_id).delete(),
        _js_gone("c.keyValueStore(w.spare_store_id)"),
        lambda w: True,
        pick=_gone("/key-value-stores/{w.spare_store_id}"),
    ),
]


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
        _js_has("c.requestQueues().list()", "queue_id"),
        lambda w: True,
        pick=_has("queue_id"),
    ),
    row(
        "RequestQueueCollectionClient",
        "iterate",
        None,
        lambda c, w: c.request_queues().iterate(),
        None,
        lambda w: True,
        pick=_has("queue_id"),
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
        _js_has("c.requestQueue(w.queue_id).listRequests()", "queue_request_id"),
        lambda w: True,
        pick=_has("queue_request_id"),
    ),
    row(
        "RequestQueueClient",
        "iterate_requests",
        "paginateRequests",
        lambda c, w: c.request_queue(w.queue_id).iterate_requests(),
        "const ids = []; for await (const page of c.requestQueue(w.queue_id).paginateRequests())"
        " ids.push(...page.items.map((r) => r.id)); return ids.includes(w.queue_request_id);",
        lambda w: True,
        pick=_has("queue_request_id"),
    ),
    row(
        "RequestQueueClient",
        "list_head",
        "listHead",
        lambda c, w: c.request_queue(w.queue_id).list_head(),
        _js_has("c.requestQueue(w.queue_id).listHead()", "queue_request_id"),
        lambda w: True,
        pick=_has("queue_request_id"),
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
        "return (await c.requestQueue(w.queue_id).batchAddRequests([{ url: 'https://example.com/b', uniqueKey: 'b' }]))"
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
        "return (await c.requestQueue(w.queue_id).updateRequest({ id: w.queue_request_id, url: 'https://example.com/0',"
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
        "return (await c.requestQueue(w.queue_id, { clientKey: 'head' }).listAndLockHead({ lockSecs: 60, limit: 1 }))"
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
        f"return (await {JS_LOCKS}.prolongRequestLock(w.locked_request_ids[0], {{ lockSecs: 120 }})).lockExpiresAt"
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
        pick=_gone("/request-queues/{w.queue_id}/requests/{w.drop_request_id}"),
    ),
    row(
        "RequestQueueClient",
        "batch_delete_requests",
        "batchDeleteRequests",
        lambda c, w: c.request_queue(w.queue_id).batch_delete_requests(
            [{"uniqueKey": k} for k in w.drop_unique_keys]
        ),
        "return (await c.requestQueue(w.queue_id).batchDeleteRequests(w.drop_unique_keys.map((k) => ({ uniqueKey: k }))))"
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
        _js_gone("c.run(w.old_run_id).requestQueue()"),
        lambda w: True,
        pick=_gone("/actor-runs/{w.old_run_id}/request-queue"),
        via="run.request_queue()",
    ),
    row(
        "RequestQueueClient",
        "delete",
        "delete",
        lambda c, w: c.request_queue(w.spare_queue_id).delete(),
        _js_gone("c.requestQueue(w.spare_queue_id)"),
        lambda w: True,
        pick=_gone("/request-queues/{w.spare_queue_id}"),
    ),
]

LOGS: list[Row] = [
    row(
        "LogClient",
        "get",
        "get",
        lambda c, w: c.run(w.run_id).log().get(),
        "return (await c.run(w.run_id).log().get()).includes('echo got');",
        lambda w: True,
        pick=lambda r, w: "echo got" in r,
    ),
    row(
        "LogClient",
        "get_as_bytes",
        None,
        lambda c, w: c.log(w.run_id).get_as_bytes(),
        None,
        lambda w: True,
        pick=lambda r, w: b"echo got" in r,
    ),
    row(
        "LogClient",
        "stream",
        "stream",
        lambda c, w: c.log(w.run_id).stream(),
        "const chunks = []; for await (const chunk of await c.log(w.run_id).stream()) chunks.push(Buffer.from(chunk));"
        " return Buffer.concat(chunks).toString('utf-8').includes('echo got');",
        lambda w: True,
        pick=lambda r, w: b"echo got" in r,
    ),
]

HOOK_JS = "{ eventTypes: ['ACTOR.RUN.FAILED'], requestUrl: HOOK_URL, condition: { actorId: w.actor_id } }"

WEBHOOKS: list[Row] = [
    row(
        "WebhookCollectionClient",
        "create",
        "create",
        lambda c, w: c.webhooks().create(
            event_types=["ACTOR.RUN.FAILED"], request_url=HOOK_URL, actor_id=w.actor_id
        ),
        f"return (await c.webhooks().create({HOOK_JS})).eventTypes;",
        lambda w: ["ACTOR.RUN.FAILED"],
        pick=field_of("event_types"),
    ),
    row(
        "WebhookCollectionClient",
        "list",
        "list",
        lambda c, w: c.actor(w.actor_id).webhooks().list(),
        _js_has("c.actor(w.actor_id).webhooks().list()", "webhook_id"),
        lambda w: True,
        pick=_has("webhook_id"),
    ),
    row(
        "WebhookCollectionClient",
        "iterate",
        None,
        lambda c, w: c.webhooks().iterate(),
        None,
        lambda w: True,
        pick=_has("webhook_id"),
    ),
    row(
        "WebhookClient",
        "get",
        "get",
        lambda c, w: c.webhook(w.webhook_id).get(),
        "return (await c.webhook(w.webhook_id).get()).requestUrl;",
        lambda w: HOOK_URL,
        pick=lambda r, w: str(r.request_url),
    ),
    row(
        "WebhookClient",
        "update",
        "update",
        lambda c, w: c.webhook(w.webhook_id).update(description="world hook"),
        "return (await c.webhook(w.webhook_id).update({ description: 'world hook' })).description;",
        lambda w: "world hook",
        pick=field_of("description"),
    ),
    row(
        "WebhookClient",
        "test",
        "test",
        lambda c, w: c.webhook(w.webhook_id).test(),
        "return (await c.webhook(w.webhook_id).test()).eventType;",
        lambda w: "TEST",
        pick=field_of("event_type"),
    ),
    row(
        "WebhookClient",
        "delete",
        "delete",
        lambda c, w: c.webhook(w.spare_webhook_id).delete(),
        _js_gone("c.webhook(w.spare_webhook_id)"),
        lambda w: True,
        pick=_gone("/webhooks/{w.spare_webhook_id}"),
    ),
    row(
        "WebhookDispatchCollectionClient",
        "list",
        "list",
        lambda c, w: c.webhook(w.webhook_id).dispatches().list(),
        _js_has("c.webhook(w.webhook_id).dispatches().list()", "dispatch_id"),
        lambda w: True,
        pick=_has("dispatch_id"),
    ),
    row(
        "WebhookDispatchCollectionClient",
        "iterate",
        None,
        lambda c, w: c.webhook_dispatches().iterate(),
        None,
        lambda w: True,
        pick=_has("dispatch_id"),
    ),
    row(
        "WebhookDispatchClient",
        "get",
        "get",
        lambda c, w: c.webhook_dispatch(w.dispatch_id).get(),
        "return (await c.webhookDispatch(w.dispatch_id).get()).webhookId;",
        lambda w: w.webhook_id,
        pick=field_of("webhook_id"),
    ),
]
