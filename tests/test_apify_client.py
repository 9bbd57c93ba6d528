"""The official Python apify-client (sync and async), unmodified, against a real Greenroom: tasks,
actors, versions and the user; runs and storages have their own files."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from apify_client import ApifyClient, ApifyClientAsync
from apify_client._models import UserPrivateInfo
from apify_client._status_message_watcher import StatusMessageWatcherBase

from server.storage.db import SyncDatabase
from server.users import create_user
from tests.actors import STDLIB_MAIN, callable_actor, files_actor
from tests.conftest import Account
from tests.stack import Stack


def _client(stack: Stack, account: Account) -> ApifyClient:
    return ApifyClient(token=account.token, api_url=stack.url, max_retries=0)


def _create_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    return {"name": body["name"], "versions": body["versions"]}


def test_task_call_and_read_output(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    actor = client.actors().create(**_create_kwargs(callable_actor("echo", "echo")))
    task = client.tasks().create(actor_id=actor.id, name="client-task", task_input={"a": 1})
    run = client.task(task.id).call(task_input={"b": 2})
    assert run is not None
    assert run.status == "SUCCEEDED" and run.actor_task_id == task.id
    output = client.key_value_store(run.default_key_value_store_id).get_record("OUTPUT")
    assert output is not None and output["value"] == {"input": {"a": 1, "b": 2}}
    items = client.dataset(run.default_dataset_id).list_items()
    assert items.items == [{"seen": {"a": 1, "b": 2}}]
    assert client.run(run.id).get().status_message == "echoed"


def test_actor_call_failed_run_and_process_actor(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    failing = client.actors().create(**_create_kwargs(callable_actor("failing", "fail")))
    run = client.actor(failing.id).call(logger=None)
    assert run is not None and run.status == "FAILED"
    proc = client.actors().create(**_create_kwargs(files_actor("proc", {"main.py": STDLIB_MAIN})))
    run = client.actor(proc.id).call(run_input={"hello": "client"}, logger=None)
    assert run is not None and run.status == "SUCCEEDED" and run.exit_code == 0
    output = client.key_value_store(run.default_key_value_store_id).get_record("OUTPUT")
    assert output is not None and output["value"]["input"] == {"hello": "client"}
    assert "got input" in (client.run(run.id).log().get() or "")


def test_actors_list_update_and_versions(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    first = client.actors().create(**_create_kwargs(callable_actor("first-act", "echo")))
    second = client.actors().create(**_create_kwargs(callable_actor("second-act", "noop")))
    assert first.user_id == account.user_id and first.username == account.username
    assert first.versions[0].version_number == "0.0"

    listed = client.actors().list()
    assert [a.name for a in listed.items] == ["first-act", "second-act"]
    assert listed.total == 2 and listed.count == 2 and listed.offset == 0
    assert [a.id for a in client.actors().list(my=True, desc=True).items] == [second.id, first.id]
    assert [a.id for a in client.actors().list(offset=1, limit=1).items] == [second.id]

    actor = client.actor(first.id)
    updated = actor.update(
        title="First",
        description="echoes",
        default_run_memory_mbytes=512,
        default_run_timeout=timedelta(seconds=120),
    )
    assert updated.id == first.id and updated.title == "First" and updated.description == "echoes"
    assert updated.default_run_options is not None
    assert updated.default_run_options.memory_mbytes == 512
    assert updated.default_run_options.timeout_secs == 120
    assert updated.modified_at >= first.modified_at
    run = actor.call(logger=None)
    assert run is not None and run.options.memory_mbytes == 512 and run.options.timeout_secs == 120

    renamed = actor.update(name="renamed-act")
    assert renamed.name == "renamed-act"
    by_name = client.actor(f"{account.username}/renamed-act").get()
    assert by_name is not None and by_name.id == first.id and by_name.title == "First"

    versions = actor.versions()
    listed_versions = versions.list()
    assert [v.version_number for v in listed_versions.items] == ["0.0"] and listed_versions.total == 1
    created = versions.create(
        version_number="1.0",
        source_type="SOURCE_FILES",
        build_tag="beta",
        source_files=[{"name": "main.py", "format": "TEXT", "content": "print('v1')"}],
    )
    assert created.version_number == "1.0" and created.build_tag == "beta"
    fetched = actor.version("1.0").get()
    assert fetched is not None and fetched.source_type == "SOURCE_FILES"
    assert fetched.source_files is not None and fetched.source_files[0].name == "main.py"
    assert [v.version_number for v in versions.list().items] == ["0.0", "1.0"]
    assert actor.version("9.9").get() is None


def test_tasks_list_update_and_input(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    actor = client.actors().create(**_create_kwargs(callable_actor("task-echo", "echo")))
    one = client.tasks().create(actor_id=actor.id, name="task-one", task_input={"v": 1})
    two = client.tasks().create(actor_id=actor.id, name="task-two", memory_mbytes=256)
    assert one.act_id == actor.id and one.user_id == account.user_id
    assert one.input is not None and one.input.model_dump() == {"v": 1}

    listed = client.tasks().list()
    assert [t.name for t in listed.items] == ["task-one", "task-two"] and listed.total == 2
    assert listed.items[0].act_name == "task-echo"
    assert [t.id for t in client.tasks().list(desc=True, limit=1).items] == [two.id]

    task = client.task(one.id)
    updated = task.update(
        title="One", task_input={"v": 2}, memory_mbytes=512, run_timeout=timedelta(seconds=90)
    )
    assert updated.title == "One" and updated.input is not None and updated.input.model_dump() == {"v": 2}
    assert updated.options is not None and updated.options.memory_mbytes == 512
    assert updated.options.timeout_secs == 90
    assert task.get_input() == {"v": 2}
    assert task.update_input(task_input={"v": 3}) == {"v": 3}
    run = task.call()
    assert run is not None and run.status == "SUCCEEDED"
    assert run.options.memory_mbytes == 512 and run.options.timeout_secs == 90
    assert client.run(run.id).dataset().list_items().items == [{"seen": {"v": 3}}]

    assert task.update(name="task-renamed").name == "task-renamed"
    assert client.task(f"{account.username}/task-renamed").get().id == one.id
    task.delete()
    assert task.get() is None
    assert [t.id for t in client.tasks().list().items] == [two.id]


def test_user_get(stack: Stack, account: Account) -> None:
    me = _client(stack, account).user().get()
    assert isinstance(me, UserPrivateInfo)  # not the public fallback: every required field is there
    assert me.id == account.user_id and me.username == account.username
    # Webhooks are provided (the CLI and clients read effectivePlatformFeatures).
    assert me.effective_platform_features.webhooks.is_enabled is True


def test_a_users_public_profile_by_id_or_username(stack: Stack, account: Account, db: SyncDatabase) -> None:
    """What `apify actors info` and `apify datasets info` call (GET /v2/users/:userId): 404 before."""
    other, _ = create_user(db, f"u{uuid.uuid4().hex[:12]}")
    client = _client(stack, account)
    for wanted in (other.id, other.username):
        profile = client.user(wanted).get()
        assert profile is not None and profile.username == other.username
    assert client.user("nobody-at-all").get() is None  # 404 record-not-found
    response = httpx.get(f"{stack.url}/v2/users/{other.id}")
    assert response.status_code == 401  # Apify needs no token here; Greenroom does


def test_async_client_call_log_stream_and_dataset_iterate(
    stack: Stack, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # call() with a logger sleeps 6 s at the end to catch a last status message; skip that idle wait.
    monkeypatch.setattr(StatusMessageWatcherBase, "_final_sleep_time_s", 0)

    async def main() -> None:
        client = ApifyClientAsync(token=account.token, api_url=stack.url, max_retries=0)
        created = await client.actors().create(**_create_kwargs(callable_actor("async-items", "push_items")))
        items = [{"n": i} for i in range(7)]
        run = await client.actor(created.id).call(run_input={"items": items}, logger=None)
        assert run is not None and run.status == "SUCCEEDED"
        dataset = client.dataset(run.default_dataset_id)
        assert [i async for i in dataset.iterate_items()] == items
        assert [i["n"] async for i in dataset.iterate_items(offset=2, limit=4, chunk_size=3)] == [2, 3, 4, 5]
        assert [i["n"] async for i in client.run(run.id).dataset().iterate_items(desc=True)][:2] == [6, 5]

        # call() redirecting the log to a logger, as users see it.
        lines: list[str] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                lines.append(record.getMessage())

        logger = logging.getLogger(f"test.async.{account.user_id}")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(Collect())
        echo = await client.actors().create(**_create_kwargs(callable_actor("async-echo", "echo")))
        task = await client.tasks().create(actor_id=echo.id, name="async-task", task_input={"a": 1})
        by_task = await client.task(task.id).call(task_input={"b": 2})
        assert by_task is not None and by_task.status == "SUCCEEDED"
        by_actor = await client.actor(echo.id).call(run_input={"c": 3}, logger=logger)
        assert by_actor is not None and by_actor.status == "SUCCEEDED"
        assert any(line.endswith("INFO echo got {'c': 3}") for line in lines), lines

        # A running actor's log, streamed, then ended by the run's end.
        follow = await client.actors().create(
            **_create_kwargs(callable_actor("async-log", "log_then_wait_for_go"))
        )
        started = await client.actor(follow.id).start()
        received = b""
        async with client.run(started.id).log().stream() as response:
            assert response is not None
            chunks = response.aiter_bytes()
            while b"first" not in received:
                received += await chunks.__anext__()
            assert (await client.run(started.id).get()).status == "RUNNING"
            await client.run(started.id).key_value_store().set_record("GO", {"go": True})
            async for chunk in chunks:
                received += chunk
        assert received.decode().endswith(" INFO second red\n")
        finished = await client.run(started.id).wait_for_finish()
        assert finished is not None and finished.status == "SUCCEEDED"
        assert await client.run(started.id).log().get() == received.decode()

    asyncio.run(main())
