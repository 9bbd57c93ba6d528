"""The official Python apify-client, unmodified, against a real Greenroom."""

from __future__ import annotations

from apify_client import ApifyClient

from tests.actors import STDLIB_MAIN, callable_actor, files_actor
from tests.conftest import Account
from tests.stack import Stack


def _client(stack: Stack, account: Account) -> ApifyClient:
    return ApifyClient(token=account.token, api_url=stack.url, max_retries=0)


def test_task_call_and_read_output(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    actor = client.actors().create(**_create_kwargs(callable_actor("echo", "echo")))
    task = client.tasks().create(actor_id=actor.id, name="client-task", task_input={"a": 1})
    run = client.task(task.id).call(task_input={"b": 2})
    assert run is not None
    assert run.status == "SUCCEEDED"
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


def test_key_value_records_round_trip(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    store = client.key_value_stores().get_or_create(name="client-store")
    kvs = client.key_value_store(store.id)
    kvs.set_record("big", {"x": "y" * 5000})  # over 1 KiB: the client gzips it
    kvs.set_record("text", "hello", content_type="text/plain")
    assert kvs.get_record("big")["value"] == {"x": "y" * 5000}
    assert kvs.get_record("text")["value"] == "hello"
    assert kvs.get_record("missing") is None
    assert kvs.record_exists("text") and not kvs.record_exists("missing")
    kvs.delete_record("text")
    assert kvs.get_record("text") is None


def _create_kwargs(body: dict) -> dict:
    version = body["versions"][0]
    return {"name": body["name"], "versions": [version]}
