"""The official Python apify-client, unmodified, starting, following and controlling runs on a real
Greenroom: start/call/wait, abort, logs (whole and streamed), run lists, last runs, update, delete,
resurrect."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apify_client import ApifyClient
from apify_client._models import Run
from apify_client._status_message_watcher import StatusMessageWatcherBase
from apify_client.errors import ApifyApiError

from tests.actors import STDLIB_MAIN, callable_actor, files_actor
from tests.conftest import Account
from tests.stack import Stack


def _client(stack: Stack, account: Account) -> ApifyClient:
    return ApifyClient(token=account.token, api_url=stack.url, max_retries=0)


def _actor(client: ApifyClient, name: str, target: str) -> str:
    body = callable_actor(name, target)
    return client.actors().create(name=body["name"], versions=body["versions"]).id


def _wait_for_log(client: ApifyClient, run_id: str, text: str, timeout_s: float = 20) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        log = client.run(run_id).log().get() or ""
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


@pytest.fixture
def quick_status_watcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """`actor.call()` with a logger ends with a 6 s sleep to catch the last status message; the
    tests read the run afterwards, so they skip that idle wait (nothing else of the client changes)."""
    monkeypatch.setattr(StatusMessageWatcherBase, "_final_sleep_time_s", 0)


def _assert_run(run: Run, account: Account, actor_id: str) -> None:
    assert run.act_id == actor_id and run.user_id == account.user_id
    assert len(run.id) == 17 and run.started_at.tzinfo is not None
    assert run.meta.origin == "API"
    assert run.default_key_value_store_id and run.default_dataset_id and run.default_request_queue_id


def test_actor_start_then_wait_for_finish(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    actor_id = _actor(client, "start-wait", "echo")
    started = client.actor(actor_id).start(
        run_input={"x": 1}, memory_mbytes=256, run_timeout=timedelta(seconds=60)
    )
    _assert_run(started, account, actor_id)
    assert started.status in ("READY", "RUNNING", "SUCCEEDED")
    assert started.options.memory_mbytes == 256 and started.options.timeout_secs == 60

    run = client.run(started.id).wait_for_finish()
    assert run is not None and run.id == started.id and run.status == "SUCCEEDED"
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.status_message == "echoed" and run.exit_code == 0
    _assert_run(run, account, actor_id)

    run_client = client.run(run.id)
    assert run_client.dataset().list_items().items == [{"seen": {"x": 1}}]
    dataset = run_client.dataset().get()
    assert dataset is not None and dataset.id == run.default_dataset_id and dataset.item_count == 1
    store = run_client.key_value_store()
    assert store.get_record("OUTPUT")["value"] == {"input": {"x": 1}}
    assert store.get_record("INPUT")["value"] == {"x": 1}
    assert [k.key for k in store.list_keys().items] == ["INPUT", "OUTPUT"]
    assert "echo got {'x': 1}" in (run_client.log().get() or "")
    assert client.log(run.id).get() == run_client.log().get()

    # wait_duration bounds the wait on an unfinished run and returns it as it is.
    sleeper = client.actor(_actor(client, "start-sleeper", "sleep")).start(run_input={"seconds": 30})
    began = time.monotonic()
    waited = client.run(sleeper.id).wait_for_finish(wait_duration=timedelta(seconds=1))
    assert waited is not None and waited.status in ("READY", "RUNNING")
    assert time.monotonic() - began < 5
    client.run(sleeper.id).abort()


def test_actor_call_streams_the_log_to_a_logger(
    stack: Stack, account: Account, quick_status_watcher: None
) -> None:
    """call() redirects the run's log while the run goes on: the actor waits for a GO record that
    only the logger sets, on seeing the actor's first line, so the run ends quickly only if the
    log really streamed (otherwise the actor waits 30 s)."""
    client = _client(stack, account)
    actor = client.actor(_actor(client, "call-logged", "announce_then_wait_for_go"))
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())
            if record.getMessage().endswith("first"):
                actor.last_run().key_value_store().set_record("GO", {"go": True})

    logger = logging.getLogger(f"test.call-logged.{account.user_id}")
    logger.addHandler(Collect())
    logger.propagate = False
    logger.setLevel(logging.INFO)
    began = time.monotonic()
    run = actor.call(run_input={"k": "v"}, logger=logger)
    assert run is not None and run.status == "SUCCEEDED"
    assert time.monotonic() - began < 15, seen
    firsts = [i for i, line in enumerate(seen) if line.endswith("INFO first")]
    seconds = [i for i, line in enumerate(seen) if line.endswith("INFO second")]
    assert len(firsts) == 1 and len(seconds) == 1 and firsts[0] < seconds[0], seen
    assert datetime.fromisoformat(seen[firsts[0]].split()[0]) <= datetime.now(UTC)  # timestamped lines


def test_abort_and_graceful_abort(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    actor = client.actor(_actor(client, "abortable", "graceful_sleeper"))

    run = actor.start()
    assert "ready" in _wait_for_log(client, run.id, "ready")  # its SIGTERM handler is installed
    aborting = client.run(run.id).abort()
    assert aborting.id == run.id and aborting.status in ("ABORTING", "ABORTED")
    aborted = client.run(run.id).wait_for_finish(wait_duration=timedelta(seconds=20))
    assert aborted is not None and aborted.status == "ABORTED" and aborted.finished_at is not None
    assert aborted.status_message == "Actor run was aborted"
    assert client.run(run.id).key_value_store().get_record("BYE") is None  # killed, no grace

    run = actor.start()
    assert "ready" in _wait_for_log(client, run.id, "ready")
    assert client.run(run.id).abort(gracefully=True).status in ("ABORTING", "ABORTED")
    aborted = client.run(run.id).wait_for_finish(wait_duration=timedelta(seconds=20))
    assert aborted is not None and aborted.status == "ABORTED"
    bye = client.run(run.id).key_value_store().get_record("BYE")
    assert bye is not None and bye["value"] == {"signal": 15}  # SIGTERM first, and it was heard
    assert "Aborting the run gracefully" in (client.run(run.id).log().get() or "")

    # Aborting a finished run changes nothing.
    again = client.run(run.id).abort()
    assert again.status == "ABORTED" and again.finished_at == aborted.finished_at


def _read_until(chunks: Iterator[bytes], received: bytearray, text: bytes) -> None:
    while text not in received:
        received.extend(next(chunks))


def test_log_stream_follows_a_running_actor(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    run = client.actor(_actor(client, "log-follow", "log_then_wait_for_go")).start()
    run_client = client.run(run.id)
    received = bytearray()
    with run_client.log().stream() as response:
        assert response is not None and response.status_code == 200
        chunks = response.iter_bytes()
        _read_until(chunks, received, b"first")
        assert run_client.get().status == "RUNNING"  # streamed while the run goes on
        run_client.key_value_store().set_record("GO", {"go": True})
        for chunk in chunks:  # ends when the run ends
            received.extend(chunk)
    assert run_client.get().status == "SUCCEEDED"
    text = received.decode()
    assert text.endswith(" INFO second red\n") and "\x1b" not in text  # raw=False strips colours
    assert text == run_client.log().get()

    with run_client.log().stream(raw=True) as response:  # a finished run: the whole log, then the end
        assert response is not None
        raw = b"".join(response.iter_bytes()).decode()
    assert raw.endswith(" INFO second \x1b[31mred\x1b[0m\n") and raw == run_client.log().get(raw=True)
    assert run_client.log().get_as_bytes() == text.encode()

    # The client's own redirection: a StreamedLog context manager on the finished run.
    lines: list[str] = []
    logger = logging.getLogger(f"test.streamed.{run.id}")
    logger.setLevel(logging.INFO)
    logger.propagate = False

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger.addHandler(Collect())
    with run_client.get_streamed_log(to_logger=logger):
        deadline = time.monotonic() + 10
        while len(lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    # The client redirects the raw log (colours kept), one message per timestamped line.
    assert [line.split(" ", 1)[1] for line in lines] == ["INFO first", "INFO second \x1b[31mred\x1b[0m"]


def test_run_lists_and_last_runs(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    echo_id = _actor(client, "lists-echo", "echo")
    failing_id = _actor(client, "lists-fail", "fail")
    task = client.tasks().create(actor_id=echo_id, name="lists-task", task_input={"t": 1})
    by_actor = [client.actor(echo_id).call(run_input={"n": n}, logger=None) for n in range(2)]
    failed = client.actor(failing_id).call(logger=None)
    by_task = client.task(task.id).call()
    assert all(r is not None for r in [*by_actor, failed, by_task])
    assert failed is not None and failed.status == "FAILED"
    assert by_task is not None and by_task.actor_task_id == task.id and by_task.status == "SUCCEEDED"
    actor_run_ids = [r.id for r in by_actor if r is not None]

    # An actor's runs include its task's runs; oldest first unless desc.
    of_actor = client.actor(echo_id).runs().list()
    assert [r.id for r in of_actor.items] == [*actor_run_ids, by_task.id]
    assert of_actor.total == 3 and of_actor.count == 3 and of_actor.offset == 0 and of_actor.desc is False
    newest = client.actor(echo_id).runs().list(desc=True, limit=2)
    assert [r.id for r in newest.items] == [by_task.id, actor_run_ids[1]] and newest.limit == 2
    assert newest.total == 3
    assert [r.id for r in client.actor(echo_id).runs().list(offset=1, limit=1).items] == [actor_run_ids[1]]
    item = of_actor.items[0]
    assert item.act_id == echo_id and item.status == "SUCCEEDED" and item.meta.origin == "API"
    assert item.default_dataset_id == by_actor[0].default_dataset_id

    assert [r.id for r in client.task(task.id).runs().list().items] == [by_task.id]
    everything = client.runs().list()
    assert everything.total == 4 and {r.id for r in everything.items} == {
        *actor_run_ids,
        by_task.id,
        failed.id,
    }
    assert [r.id for r in client.runs().list(status="FAILED").items] == [failed.id]
    both = client.runs().list(status=["FAILED", "SUCCEEDED"], desc=True)
    assert [r.id for r in both.items] == [by_task.id, failed.id, *reversed(actor_run_ids)]
    assert client.actor(failing_id).runs().list(status="SUCCEEDED").items == []
    later = client.runs().list(started_after=by_task.started_at)
    assert [r.id for r in later.items] == [by_task.id]
    assert [r.id for r in client.runs().iterate()] == [r.id for r in everything.items]

    # Last runs, with and without a status, and their storages and logs.
    last = client.actor(echo_id).last_run().get()
    assert last is not None and last.id == by_task.id
    last_ok = client.actor(echo_id).last_run(status="SUCCEEDED", origin="API")
    assert last_ok.get().id == by_task.id
    assert client.actor(failing_id).last_run(status="SUCCEEDED").get() is None
    assert client.actor(failing_id).last_run(status="FAILED").get().id == failed.id
    task_last = client.task(task.id).last_run()
    assert task_last.get().id == by_task.id
    assert task_last.dataset().list_items().items == [{"seen": {"t": 1}}]
    assert task_last.dataset().get().id == by_task.default_dataset_id
    assert task_last.key_value_store().get_record("OUTPUT")["value"] == {"input": {"t": 1}}
    assert task_last.key_value_store().get().id == by_task.default_key_value_store_id
    assert "echo got {'t': 1}" in (task_last.log().get() or "")
    actor_last = client.actor(echo_id).last_run(status="SUCCEEDED")
    assert actor_last.dataset().list_items().items == [{"seen": {"t": 1}}]
    assert "this actor always fails" in (client.actor(failing_id).last_run().log().get() or "")


def test_run_update_delete_and_resurrect(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    actor_id = _actor(client, "lifecycle", "count_once")
    run = client.actor(actor_id).call(logger=None)
    assert run is not None and run.status == "SUCCEEDED"
    run_client = client.run(run.id)

    updated = run_client.update(status_message="all done", is_status_message_terminal=True)
    assert updated.id == run.id and updated.status_message == "all done"
    assert updated.is_status_message_terminal is True
    assert run_client.get().status_message == "all done"

    resurrected = run_client.resurrect(run_timeout=timedelta(seconds=90), memory_mbytes=512)
    assert resurrected.id == run.id and resurrected.status in ("READY", "RUNNING", "SUCCEEDED")
    again = run_client.wait_for_finish(wait_duration=timedelta(seconds=30))
    assert again is not None and again.status == "SUCCEEDED"
    assert again.options.timeout_secs == 90 and again.options.memory_mbytes == 512
    assert again.stats.resurrect_count == 1
    assert again.default_dataset_id == run.default_dataset_id
    assert len(run_client.dataset().list_items().items) == 2  # one per execution, same dataset

    run_client.delete()
    assert run_client.get() is None
    assert client.actor(actor_id).runs().list().items == []
    run_client.delete()  # already gone: the client ignores the 404


def test_process_actor_stdout_streams_live_and_abort_ends_it(stack: Stack, account: Account) -> None:
    """A Python process actor's print() reaches a log stream while it runs (stdout to a pipe is
    block-buffered unless the worker asks for unbuffered output), and abort ends the process."""
    client = _client(stack, account)
    body = files_actor("proc-live", {"main.py": STDLIB_MAIN})
    actor_id = client.actors().create(name=body["name"], versions=body["versions"]).id
    run = client.actor(actor_id).start(run_input={"sleep": 20})
    run_client = client.run(run.id)
    received = bytearray()
    with run_client.log().stream() as response:
        assert response is not None
        _read_until(response.iter_bytes(), received, b"got input")
        # Read while the actor sleeps its 20 s, not when its exit flushes stdout.
        running = run_client.get()
        assert running is not None and running.status == "RUNNING"
        assert datetime.now(UTC) - running.started_at < timedelta(seconds=10)
    assert b'got input {"sleep": 20}' in received
    assert run_client.abort().status in ("ABORTING", "ABORTED")
    aborted = run_client.wait_for_finish(wait_duration=timedelta(seconds=10))
    assert aborted is not None and aborted.status == "ABORTED"


def test_last_run_status_carries_onto_its_storages_and_log(stack: Stack, account: Account) -> None:
    """last_run(status=...) sends the status on every sub-resource call, so the storages and the log
    are those of the last run *with that status*, not of the newest run."""
    client = _client(stack, account)
    actor_id = _actor(client, "last-status", "sleep")
    actor = client.actor(actor_id)
    task = client.task(client.tasks().create(actor_id=actor_id, name="last-status").id)
    done = task.call(task_input={"seconds": 0})
    assert done is not None and done.status == "SUCCEEDED"
    newest = task.start(task_input={"seconds": 30})
    deadline = time.monotonic() + 20
    while client.run(newest.id).get().status != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    client.run(newest.id).abort()
    assert client.run(newest.id).wait_for_finish().status == "ABORTED"

    for owner in (task, actor):
        assert owner.last_run().get().id == newest.id
        succeeded = owner.last_run(status="SUCCEEDED", origin="API")
        assert succeeded.get().id == done.id
        assert succeeded.key_value_store().get_record("OUTPUT")["value"] == {"slept": 0}
        assert succeeded.key_value_store().get().id == done.default_key_value_store_id
        assert succeeded.dataset().get().id == done.default_dataset_id
        assert succeeded.log().get() == client.run(done.id).log().get()
        aborted = owner.last_run(status="ABORTED")
        assert aborted.key_value_store().get_record("OUTPUT") is None
        assert "Aborting the run" in (aborted.log().get() or "")
        assert owner.last_run(status="FAILED").get() is None


def test_the_last_run_of_an_actor_or_a_task_is_aborted(stack: Stack, account: Account) -> None:
    """POST .../runs/last/abort (the clients' last_run().abort()): 404 before."""
    client = _client(stack, account)
    actor_id = _actor(client, "last-aborted", "graceful_sleeper")
    task = client.tasks().create(actor_id=actor_id, name="last-aborted-task")
    for owner in (client.actor(actor_id), client.task(task.id)):
        run = owner.start()
        assert "ready" in _wait_for_log(client, run.id, "ready")
        aborting = owner.last_run().abort()
        assert aborting.id == run.id and aborting.status in ("ABORTING", "ABORTED")
        aborted = client.run(run.id).wait_for_finish(wait_duration=timedelta(seconds=20))
        assert aborted is not None and aborted.status == "ABORTED"
    # status= picks among the runs: no RUNNING one is left.
    with pytest.raises(ApifyApiError) as missing:
        client.actor(actor_id).last_run(status="RUNNING").abort()
    assert missing.value.status_code == 404 and missing.value.type == "record-not-found"
