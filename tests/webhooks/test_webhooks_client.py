"""The official Python apify-client, unmodified, on the webhooks API: create, get, update, test,
dispatches, delete; an actor's and a task's webhooks (`task.webhooks().list()`); ad-hoc webhooks
passed to `call`. Calls go to a host the session's Greenroom refuses (it allows no private
address), so what is checked here is the API and the objects the client validates."""

from __future__ import annotations

import time

from apify_client import ApifyClient

from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack
from tests.webhooks.webhooks_support import TERMINAL

REFUSED_URL = "http://localhost:9/hook"  # a name: accepted when saved, refused when called


def _wait_done(client: ApifyClient, dispatch_id: str) -> str:
    deadline = time.monotonic() + 30
    while (
        dispatch := client.webhook_dispatch(dispatch_id).get()
    ) is not None and dispatch.status not in TERMINAL:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert dispatch is not None
    return str(dispatch.status)


def test_the_python_client_drives_webhooks(stack: Stack, account: Account) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    body = callable_actor("client-hooked", "noop")
    actor = client.actors().create(name=body["name"], versions=body["versions"])
    task = client.tasks().create(actor_id=actor.id, name="client-hooked-task")
    on_task = client.webhooks().create(
        event_types=["ACTOR.RUN.SUCCEEDED"],
        request_url=REFUSED_URL,
        actor_task_id=task.id,
        description="on the task",
        idempotency_key="client-key",
    )
    on_actor = client.webhooks().create(
        event_types=["ACTOR.RUN.FAILED"], request_url=REFUSED_URL, actor_id=actor.id
    )
    assert (
        client.webhooks()
        .create(
            event_types=["ACTOR.RUN.ABORTED"],
            request_url=REFUSED_URL,
            actor_task_id=task.id,
            idempotency_key="client-key",
        )
        .id
        == on_task.id
    )
    assert on_task.condition.actor_task_id == task.id and on_task.description == "on the task"

    assert [w.id for w in client.task(task.id).webhooks().list().items] == [on_task.id]
    assert [w.id for w in client.actor(actor.id).webhooks().list().items] == [on_actor.id]
    listed = client.webhooks().list(desc=True)
    assert listed.total == 2 and [w.id for w in listed.items] == [on_actor.id, on_task.id]

    updated = client.webhook(on_task.id).update(event_types=["ACTOR.RUN.SUCCEEDED", "ACTOR.RUN.ABORTED"])
    assert updated.event_types == ["ACTOR.RUN.SUCCEEDED", "ACTOR.RUN.ABORTED"]
    assert updated.condition.actor_task_id == task.id  # unchanged: the client sent no condition

    dispatch = client.webhook(on_task.id).test()
    assert dispatch.event_type == "TEST" and dispatch.webhook_id == on_task.id
    assert _wait_done(client, dispatch.id) == "FAILED"  # refused: localhost is not public here
    run = client.task(task.id).call()
    assert run is not None and run.status == "SUCCEEDED"
    dispatches = client.webhook(on_task.id).dispatches().list()
    assert [d.event_type for d in dispatches.items] == ["TEST", "ACTOR.RUN.SUCCEEDED"]
    assert (
        dispatches.items[1].event_data is not None and dispatches.items[1].event_data.actor_run_id == run.id
    )
    assert client.webhook_dispatches().list().total == 2
    got = client.webhook(on_task.id).get()
    assert got is not None and got.stats is not None and got.stats.total_dispatches == 2

    # Ad-hoc webhooks through `call`.
    run = client.actor(actor.id).call(
        webhooks=[{"event_types": ["ACTOR.RUN.SUCCEEDED"], "request_url": REFUSED_URL}], logger=None
    )
    assert run is not None
    ad_hoc = [w for w in client.webhooks().list().items if w.is_ad_hoc]
    assert len(ad_hoc) == 1 and ad_hoc[0].condition.actor_run_id == run.id

    client.webhook(on_actor.id).delete()
    assert client.webhook(on_actor.id).get() is None
