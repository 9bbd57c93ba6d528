"""Rows: logs and webhooks."""

from __future__ import annotations

from tests.clients.rows import Row, field_of, gone, has, js_gone, js_has, row
from tests.clients.world import HOOK_URL

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
        "const chunks = []; for await (const chunk of await c.log(w.run_id).stream())"
        " chunks.push(Buffer.from(chunk));"
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
        js_has("c.actor(w.actor_id).webhooks().list()", "webhook_id"),
        lambda w: True,
        pick=has("webhook_id"),
    ),
    row(
        "WebhookCollectionClient",
        "iterate",
        None,
        lambda c, w: c.webhooks().iterate(),
        None,
        lambda w: True,
        pick=has("webhook_id"),
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
        js_gone("c.webhook(w.spare_webhook_id)"),
        lambda w: True,
        pick=gone("/webhooks/{w.spare_webhook_id}"),
    ),
    row(
        "WebhookDispatchCollectionClient",
        "list",
        "list",
        lambda c, w: c.webhook(w.webhook_id).dispatches().list(),
        js_has("c.webhook(w.webhook_id).dispatches().list()", "dispatch_id"),
        lambda w: True,
        pick=has("dispatch_id"),
    ),
    row(
        "WebhookDispatchCollectionClient",
        "iterate",
        None,
        lambda c, w: c.webhook_dispatches().iterate(),
        None,
        lambda w: True,
        pick=has("dispatch_id"),
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
