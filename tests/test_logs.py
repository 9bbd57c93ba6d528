"""Run logs: whole, raw or cleaned, and streamed while the run goes (woken over Redis, never polled)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from apify_client import ApifyClient
from sqlalchemy import select

import server.app
from server.app import create_app
from server.events import publish_log_appended, publish_run_finished
from server.lifespan import AppState, lifespan_for
from server.settings import Settings
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.models import LogChunk
from server.storage.runs import finish
from tests.actors import callable_actor
from tests.conftest import Account
from tests.runs_db import insert_run, run_status
from tests.services import kill_listeners
from tests.stack import Stack, free_port
from worker.logs import FLUSH_INTERVAL_S, LogWriter

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z ")


def _start(api: httpx.Client, target: str, name: str) -> dict[str, Any]:
    actor = api.post("/acts", json=callable_actor(name, target))
    assert actor.status_code == 201, actor.text
    run = api.post(f"/acts/{actor.json()['data']['id']}/runs")
    assert run.status_code == 201, run.text
    return run.json()["data"]


def _go(api: httpx.Client, run: dict[str, Any]) -> None:
    store = run["defaultKeyValueStoreId"]
    assert api.put(f"/key-value-stores/{store}/records/GO", json=True).status_code == 201


def test_stream_follows_the_log_while_the_run_goes_and_ends_with_it(
    api: httpx.Client, db: SyncDatabase
) -> None:
    run = _start(api, "log_then_wait_for_go", "streamer")
    received = ""
    with api.stream("GET", f"/actor-runs/{run['id']}/log", params={"stream": 1}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert "content-length" not in response.headers  # chunked: it is still being written
        chunks = response.iter_text()
        while "first" not in received:
            received += next(chunks)
        # The actor waits for GO: the stream delivered its first line while it is running.
        assert run_status(db, run["id"]) == "RUNNING"
        _go(api, run)
        for chunk in chunks:
            received += chunk
    assert run_status(db, run["id"]) == "SUCCEEDED"  # the stream ended only once the run had
    lines = received.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["INFO first", "INFO second red"]  # ANSI cleaned
    assert all(STAMP.match(line) for line in lines)
    whole = api.get(f"/logs/{run['id']}", params={"raw": 1})
    assert whole.text.replace("\x1b[31m", "").replace("\x1b[0m", "") == received
    assert "\x1b[31mred" in whole.text


def test_stream_of_a_finished_run_is_the_whole_log(api: httpx.Client) -> None:
    actor = api.post("/acts", json=callable_actor("done-echo", "echo")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs", params={"waitForFinish": 60}).json()["data"]
    assert run["status"] == "SUCCEEDED"
    started = time.monotonic()
    streamed = api.get(f"/actor-runs/{run['id']}/log", params={"stream": "true", "raw": "true"})
    assert time.monotonic() - started < 2
    assert streamed.status_code == 200 and "INFO echo got None" in streamed.text
    assert streamed.text == api.get(f"/actor-runs/{run['id']}/log").text


def test_log_parameters(api: httpx.Client, db: SyncDatabase) -> None:
    actor = api.post("/acts", json=callable_actor("params-echo", "echo")).json()["data"]
    run_id = insert_run(db, actor["id"], RunStatus.SUCCEEDED)
    with db.transaction() as session:
        session.add(LogChunk(run_id=run_id, seq=0, content="2026-01-01T00:00:00.000Z \x1b[1mbold\x1b[0m\n"))
    cleaned = api.get(f"/actor-runs/{run_id}/log")
    assert cleaned.text == "2026-01-01T00:00:00.000Z bold\n"
    assert "content-disposition" not in cleaned.headers
    raw = api.get(f"/logs/{run_id}", params={"raw": 1, "download": 1})
    assert raw.text == "2026-01-01T00:00:00.000Z \x1b[1mbold\x1b[0m\n"
    assert raw.headers["content-disposition"] == f'attachment; filename="{run_id}.log"'
    for name in ("stream", "raw", "download"):
        bad = api.get(f"/actor-runs/{run_id}/log", params={name: "yes"})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid-input"
    missing = api.get("/logs/aaaaaaaaaaaaaaaaa", params={"stream": 1})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "record-not-found"


def test_log_writer_publishes_only_after_commit_and_flushes_quiet_lines(
    db: SyncDatabase, api: httpx.Client
) -> None:
    actor = api.post("/acts", json=callable_actor("writer", "noop")).json()["data"]
    run_id = insert_run(db, actor["id"])
    seen: list[list[str]] = []

    def notify(rid: str) -> None:
        assert rid == run_id
        with db.transaction() as session:  # another connection: sees only what is committed
            seen.append(
                list(session.execute(select(LogChunk.content).where(LogChunk.run_id == rid)).scalars())
            )

    writer = LogWriter(db, run_id, 10_000, notify=notify)
    # Both within the flush interval of the writer's start: buffered, then flushed by its timer
    # without another line or a flush() call.
    writer.line("one")
    writer.line("two")
    deadline = time.monotonic() + FLUSH_INTERVAL_S + 2
    while not seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(seen) == 1 and len(seen[0]) == 1
    assert [line.split(" ", 1)[1] for line in seen[0][0].splitlines()] == ["one", "two"]
    time.sleep(FLUSH_INTERVAL_S)
    writer.line("three")  # quiet for longer than the interval: written (and announced) at once
    assert len(seen) == 2 and seen[1][0] == seen[0][0] and seen[1][1].endswith(" three\n")
    writer.flush()  # nothing buffered: no empty chunk, no announcement
    assert len(seen) == 2


def test_a_new_log_writer_continues_an_existing_log(db: SyncDatabase, api: httpx.Client) -> None:
    """A resurrected run gets a new writer: it appends after the chunks already there."""
    actor = api.post("/acts", json=callable_actor("continued", "noop")).json()["data"]
    run_id = insert_run(db, actor["id"], RunStatus.SUCCEEDED)
    with db.transaction() as session:
        session.add(LogChunk(run_id=run_id, seq=0, content="2026-01-01T00:00:00.000Z before\n"))
    writer = LogWriter(db, run_id, 10_000, notify=lambda rid: None)
    writer.line("after")
    writer.flush()
    text = api.get(f"/actor-runs/{run_id}/log").text
    assert text.startswith("2026-01-01T00:00:00.000Z before\n") and text.endswith(" after\n")


def test_log_appended_wakes_followers_not_finish_waiters(settings: Settings) -> None:
    async def body(state: AppState) -> None:
        client = redis.Redis.from_url(settings.redis_url)
        try:
            with state.waiters.watch("run-a") as finish_event, state.waiters.follow_log("run-a") as log_event:
                publish_log_appended(client, settings.redis_prefix, "run-a")
                await asyncio.wait_for(log_event.wait(), 5)
                await asyncio.sleep(0.1)
                assert not finish_event.is_set()  # a chatty run does not make finish waiters re-read
                log_event.clear()
                publish_run_finished(client, settings.redis_prefix, "run-a")
                await asyncio.wait_for(finish_event.wait(), 5)
                await asyncio.wait_for(log_event.wait(), 5)  # a finished run ends the stream
                log_event.clear()
                before = state.waiters.resubscriptions
                assert kill_listeners(settings.redis_url, settings.redis_prefix) > 0
                await asyncio.wait_for(log_event.wait(), 10)  # resubscribed: followers re-read
                assert state.waiters.resubscriptions == before + 1
            assert state.waiters.following == 0 and state.waiters.waiting == 0
        finally:
            client.close()

    async def main() -> None:
        async with lifespan_for(settings) as state:
            await body(state["app"])

    asyncio.run(main())


@pytest.fixture
def in_process_api(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An API served in this process, with its AppState at hand."""
    captured: dict[str, AppState] = {}
    real = server.app.lifespan_for

    @asynccontextmanager
    async def capturing(s: Settings) -> AsyncIterator[dict[str, Any]]:
        async with real(s) as state:
            captured["state"] = state["app"]
            yield state

    monkeypatch.setattr(server.app, "lifespan_for", capturing)
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    api_server = uvicorn.Server(config)
    thread = threading.Thread(target=api_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not api_server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v2", captured["state"]
    api_server.should_exit = True
    thread.join(timeout=10)


def test_client_disconnect_drops_the_follower(
    in_process_api: tuple[str, AppState], api: httpx.Client, db: SyncDatabase
) -> None:
    url, state = in_process_api
    actor = api.post("/acts", json=callable_actor("quiet", "noop")).json()["data"]
    run_id = insert_run(db, actor["id"])  # RUNNING, and no worker: the stream would never end
    with (
        httpx.Client(base_url=url, headers=api.headers, timeout=10) as client,
        client.stream("GET", f"/actor-runs/{run_id}/log", params={"stream": 1}) as response,
    ):
        assert response.status_code == 200
        deadline = time.monotonic() + 5
        while state.waiters.following != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state.waiters.following == 1
    deadline = time.monotonic() + 5
    while state.waiters.following and time.monotonic() < deadline:
        time.sleep(0.02)
    assert state.waiters.following == 0


def test_stream_ends_when_the_run_finishes_without_new_lines(
    api: httpx.Client, db: SyncDatabase, settings: Settings
) -> None:
    actor = api.post("/acts", json=callable_actor("ender", "noop")).json()["data"]
    run_id = insert_run(db, actor["id"])

    def finish_soon() -> None:
        time.sleep(0.5)
        with db.transaction() as session:
            session.add(LogChunk(run_id=run_id, seq=0, content="2026-01-01T00:00:00.000Z last words\n"))
            ending, params = finish(run_id, RunStatus.SUCCEEDED, exit_code=0, status_message="ok", stats={})
            ending.execute(session, params)
        client = redis.Redis.from_url(settings.redis_url)
        publish_run_finished(client, settings.redis_prefix, run_id)
        client.close()

    threading.Thread(target=finish_soon).start()
    started = time.monotonic()
    response = api.get(f"/actor-runs/{run_id}/log", params={"stream": 1})
    assert response.text == "2026-01-01T00:00:00.000Z last words\n"
    assert 0.4 < time.monotonic() - started < 3


def test_apify_client_log_stream_while_running(stack: Stack, account: Account, api: httpx.Client) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    run = _start(api, "log_then_wait_for_go", "client-streamer")
    received = b""
    with client.run(run["id"]).log().stream() as response:
        assert response is not None
        chunks = response.iter_bytes()
        while b"first" not in received:
            received += next(chunks)
        assert client.run(run["id"]).get().status == "RUNNING"
        _go(api, run)
        for chunk in chunks:
            received += chunk
    assert client.run(run["id"]).get().status == "SUCCEEDED"
    assert received.decode().endswith(" INFO second red\n")


def test_the_last_chunk_goes_with_the_callers_transaction(db: SyncDatabase, api: httpx.Client) -> None:
    """The run's end writes the log's last lines in its own transaction (worker/finalize.py): rolled
    back, they stay buffered and are written with the next commit, numbered after what is there. That
    chunk is not announced on log-appended: the run-finished published after the end's commit wakes the
    log's followers (the streaming tests above end with the last line)."""
    actor = api.post("/acts", json=callable_actor("last-chunk", "noop")).json()["data"]
    run_id = insert_run(db, actor["id"])
    announced: list[str] = []
    writer = LogWriter(db, run_id, 10_000, notify=announced.append)
    writer.line("first")
    writer.flush()
    writer.line("last")
    with pytest.raises(RuntimeError), db.begin() as connection:
        writer.last_chunk(connection)
        raise RuntimeError("the end's transaction fails")
    assert announced == [run_id]
    with db.begin() as connection:
        committed = writer.last_chunk(connection)
        assert announced == [run_id]
    committed()
    assert announced == [run_id]
    with db.transaction() as session:
        chunks = session.execute(
            select(LogChunk.seq, LogChunk.content).where(LogChunk.run_id == run_id).order_by(LogChunk.seq)
        ).all()
    assert [(seq, content.split(" ", 1)[1]) for seq, content in chunks] == [(0, "first\n"), (1, "last\n")]
    with db.begin() as connection:
        nothing = writer.last_chunk(connection)  # nothing buffered: no chunk, no announcement
    nothing()
    writer.line("after")
    writer.flush()
    assert announced == [run_id, run_id]  # a chunk of its own is announced
