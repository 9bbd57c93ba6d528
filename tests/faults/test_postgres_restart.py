"""PostgreSQL stopped (fast mode: every session cut off) and started again under load, on a server the
test runs itself: requests in flight fail with a 503 in Apify's envelope (never a 500, never a hang),
nothing half-written is visible, Greenroom recovers by itself, and every run ends in a true state."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.migrate import upgrade
from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from server.users import create_user
from tests.actors import callable_actor
from tests.conftest import SUITE_LIMITS
from tests.pg_server import PrivatePostgres, unavailable_reason
from tests.stack import Stack, free_port, running

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))

DOWN_S = 2.5
NAP_S = 2.0  # the held runs end while the database is down
REQUEST_TIMEOUT_S = 10.0  # a request that takes longer than this hung


@dataclass
class PgStack:
    stack: Stack
    pg: PrivatePostgres
    token: str


@pytest.fixture
def pg_stack(redis_url: str, tmp_path: Path) -> Iterator[PgStack]:
    pg = PrivatePostgres()
    try:
        url = pg.start()
        upgrade(url)
        db = SyncDatabase(create_sync_engine(url))
        try:
            token = create_user(db, "pg-fault")[1]
        finally:
            db.engine.dispose()
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            redis_url=redis_url,
            redis_prefix=f"gr-fault-{uuid.uuid4().hex[:8]}",
            port=free_port(),
            kill_grace_s=1.0,
            run_lease_s=3.0,
            sweep_interval_s=0.5,
            orphan_after_s=2.0,
            worker_stop_grace_s=3.0,
            callable_modules=("tests.actors",),
            # The check below reads every record written, faster than Apify's 200 a second on one
            # store once the machine is quiet (a 429 seen in the fault loop).
            **SUITE_LIMITS,
        )
        with running(settings, workers=2) as stack:
            yield PgStack(stack, pg, token)
    finally:
        pg.close()


@dataclass
class Answer:
    at: float
    status: int | None  # None: no answer at all (a transport error or a timeout)
    body: Any
    detail: str = ""


@dataclass
class Load:
    """Request loops in threads, each answer kept with the time it came."""

    client: httpx.Client
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def loop(self, name: str, request: Callable[[int], httpx.Response], pause_s: float = 0.02) -> None:
        answers = self.answers.setdefault(name, [])
        i = 0
        while not self.stop.is_set():
            try:
                response = request(i)
                body: Any = response.json() if response.content else None
                answers.append(Answer(time.monotonic(), response.status_code, body))
            except (httpx.TransportError, ValueError) as exc:
                answers.append(Answer(time.monotonic(), None, None, f"{type(exc).__name__}: {exc}"))
            i += 1
            time.sleep(pause_s)


def _poll(api: httpx.Client, path: str, done: Callable[[Any], bool], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        response = api.get(path)
        data = response.json().get("data") if response.status_code == 200 else None
        if data is not None and done(data):
            return data
        assert time.monotonic() < deadline, f"{path}: {response.status_code} {response.text[:300]}"
        time.sleep(0.1)


def _records(key: str, i: int) -> bytes:
    # Large enough to take more than one network packet: a torn write would show.
    return f'{{"key": "{key}", "i": {i}, "pad": "{"x" * 60_000}"}}'.encode()


def test_postgres_restart_under_load(pg_stack: PgStack) -> None:
    stack, pg = pg_stack.stack, pg_stack.pg
    with (
        stack.client(pg_stack.token, timeout=REQUEST_TIMEOUT_S) as api,
        stack.client(pg_stack.token) as held_client,
        ThreadPoolExecutor(8) as pool,
    ):
        napper = api.post("/acts", json=callable_actor("napper", "nap")).json()["data"]
        store = api.post("/key-value-stores", params={"name": "under-load"}).json()["data"]
        records = f"/key-value-stores/{store['id']}/records"

        # Two runs going (one per worker) and one waiting in the queue, each with a run-sync held.
        held = [
            pool.submit(held_client.post, f"/acts/{napper['id']}/run-sync", json={"seconds": NAP_S})
            for _ in range(3)
        ]
        _poll(
            api,
            f"/acts/{napper['id']}/runs",
            lambda d: sum(r["status"] == "RUNNING" for r in d["items"]) == 2,
        )
        running = [
            r["id"]
            for r in api.get(f"/acts/{napper['id']}/runs").json()["data"]["items"]
            if r["status"] == "RUNNING"
        ]

        load = Load(api)
        loops = {
            "put": lambda i: api.put(
                f"{records}/k{i}", content=_records(f"k{i}", i), headers={"Content-Type": "application/json"}
            ),
            "get": lambda i: api.get(f"/actor-runs/{running[0]}"),
            "start": lambda i: api.post(f"/acts/{napper['id']}/runs", json={"seconds": 0.1}),
        }
        # Runs are started slower than records are written: each one is executed afterwards.
        pauses = {"put": 0.02, "get": 0.02, "start": 0.25}
        loaders = [pool.submit(load.loop, name, request, pauses[name]) for name, request in loops.items()]
        time.sleep(0.5)
        down_at = time.monotonic()
        pg.stop("fast")
        time.sleep(DOWN_S)
        pg.start()
        up_at = time.monotonic()
        time.sleep(3.0)
        load.stop.set()
        for loader in loaders:
            loader.result(timeout=REQUEST_TIMEOUT_S + 5)
        answers = [a for name in loops for a in load.answers[name]]

        # Every request was answered, in time, with a success or a clear 503.
        assert [a.detail for a in answers if a.status is None] == []
        assert {a.status for a in answers} <= {200, 201, 503}, {a.status for a in answers}
        unavailable = [a for a in answers if a.status == 503]
        assert unavailable, "the outage was never seen"
        for a in unavailable:
            assert a.body["error"]["type"] == "service-unavailable", a.body
            assert "database" in a.body["error"]["message"], a.body
            assert down_at <= a.at <= up_at + 3.0
        # It recovered by itself: every loop had successes after the database came back.
        for name in loops:
            assert any(a.status in (200, 201) and a.at > up_at for a in load.answers[name]), name

        # Nothing half-written: each record is all there or absent; what was acknowledged is there.
        for i, answer in enumerate(load.answers["put"]):
            got = api.get(f"{records}/k{i}")
            assert got.status_code in (200, 404), got.text
            if answer.status == 201:
                assert got.status_code == 200
            if got.status_code == 200:
                assert got.content == _records(f"k{i}", i)

        # The held run-syncs: the runs that were going end SUCCEEDED once the database is back
        # (their actors ended during the outage); every waiter is answered.
        answers_held = [f.result(timeout=30) for f in held]
        for run_id in running:
            run = _poll(api, f"/actor-runs/{run_id}", lambda d: d["finishedAt"] is not None)
            assert run["status"] == "SUCCEEDED", run
        assert [a.status_code for a in answers_held] == [201] * 3, [a.text for a in answers_held]

        # Every run ends in a true state, and every run that exists was written whole.
        runs = _poll(
            api,
            f"/acts/{napper['id']}/runs?limit=1000",
            lambda d: all(r["status"] not in ("READY", "RUNNING") for r in d["items"]),
        )["items"]
        started = {a.body["data"]["id"] for a in load.answers["start"] if a.status == 201}
        assert started <= {r["id"] for r in runs}
        for r in runs:
            run = api.get(f"/actor-runs/{r['id']}").json()["data"]
            assert run["status"] in ("SUCCEEDED", "FAILED"), run
            if run["status"] == "FAILED":
                assert run["statusMessage"], run
            run_input = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/INPUT")
            assert run_input.status_code == 200 and "seconds" in run_input.json(), run_input.text
            assert api.get(f"/datasets/{run['defaultDatasetId']}").status_code == 200

        # And it works as before.
        done = api.post(f"/acts/{napper['id']}/run-sync", json={"seconds": 0.1})
        assert done.status_code == 201, done.text
