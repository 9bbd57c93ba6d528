"""Requests in progress per caller (server/in_flight.py): beyond the cap a caller's requests wait their
turn, beyond the queue they get Apify's 429 at once; other callers are not held up; requests held on a
run (run-sync) do not count while they wait."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial

import httpx
import pytest

from server.in_flight import Places, _Place
from server.settings import Settings
from tests.actors import callable_actor
from tests.conftest import new_account
from tests.stack import Stack, running

_SETTLE_S = 2.0  # for requests sent from threads to reach the server and start


@pytest.fixture
def capped(isolated_settings: Settings) -> Iterator[Stack]:
    """A Greenroom where a caller may have 2 requests in progress and 1 waiting."""
    settings = replace(isolated_settings, max_in_flight_per_caller=2, max_queued_per_caller=1)
    with running(settings, workers=0) as stack:
        yield stack


def _slow_upload(api: httpx.Client, store_id: str, key: str, go: threading.Event) -> httpx.Response:
    """A record put whose body comes in two pieces, the second once `go` is set: a request that stays
    in progress on the server as long as the test wants."""

    def body() -> Iterator[bytes]:
        yield b'{"part": '
        go.wait(30)
        yield b"1}"

    return api.put(
        f"/key-value-stores/{store_id}/records/{key}",
        content=body(),
        headers={"Content-Type": "application/json"},
    )


def test_beyond_the_cap_requests_wait_their_turn_and_beyond_the_queue_get_429(capped: Stack) -> None:
    alice, bob = new_account(capped.settings), new_account(capped.settings)
    go = threading.Event()
    with (
        capped.client(alice.token) as api,
        capped.client(bob.token) as other,
        ThreadPoolExecutor(3) as pool,
    ):
        store = api.post("/key-value-stores", params={"name": "slow"}).json()["data"]["id"]
        uploads = [pool.submit(_slow_upload, api, store, f"k{i}", go) for i in range(2)]
        time.sleep(_SETTLE_S)
        queued: Future[httpx.Response] = pool.submit(api.get, "/users/me")
        time.sleep(_SETTLE_S)
        assert not queued.done()  # both places are taken: it waits its turn

        refused = api.get("/users/me")  # one already waits: the queue is full
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["type"] == "rate-limit-exceeded"
        assert "GREENROOM_MAX_IN_FLIGHT_PER_CALLER" in error["message"]
        assert refused.headers["Retry-After"] == "1"
        assert other.get("/users/me").status_code == 200  # another caller is not held up

        go.set()
        assert [u.result(30).status_code for u in uploads] == [201, 201]
        assert queued.result(30).status_code == 200
        # The places came back: the caller is served again, and the uploads were stored whole.
        assert api.get(f"/key-value-stores/{store}/records/k0").json() == {"part": 1}
        assert api.get("/users/me").status_code == 200


def test_held_run_syncs_do_not_count_while_they_wait(isolated_settings: Settings) -> None:
    """One place: were a held run-sync counted, the second run-sync would wait for the first to
    end, and the GET sent while both wait would be answered only after one ended. The test
    watches the runs with a second token of the same user (a caller of its own), so that it
    starts each request only once the one before is waiting: a run-sync holds its place while it
    creates its run, which took over a second in a loaded CI."""
    # A queue of 1: a waiter re-takes its place for a moment after each wake-up (to read its run),
    # and a request arriving then must wait that moment out, not be refused (CI saw that 429).
    settings = replace(isolated_settings, max_in_flight_per_caller=1, max_queued_per_caller=1)
    with running(settings, workers=2) as stack:
        account = new_account(settings)
        with stack.client(account.token) as api, ThreadPoolExecutor(2) as pool:
            actor = api.post("/acts", json=callable_actor("sleepy", "sleep")).json()["data"]["id"]
            second = api.post("/users/me/tokens", json={"description": "watcher"}).json()["data"]["token"]
            with stack.client(second) as watcher:

                def runs_running(count: int) -> bool:
                    runs = watcher.get(f"/acts/{actor}/runs").json()["data"]["items"]
                    return sum(run["status"] == "RUNNING" for run in runs) == count

                held = []
                for count in (1, 2):
                    held.append(pool.submit(api.post, f"/acts/{actor}/run-sync", json={"seconds": 8}))
                    _until(partial(runs_running, count))
                # Both wait for their runs' ends; the GET gets in (retried for a moment: a waiter may
                # still be reading its run after the worker's claim woke it).
                got = _until(lambda: api.get("/users/me").status_code == 200)
                assert got and not any(h.done() for h in held)
            answers = [h.result(60) for h in held]
            assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
            assert [a.json() for a in answers] == [{"slept": 8}] * 2


def _until(done: Callable[[], bool], timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)
    return True


def test_a_request_back_from_a_wait_does_not_let_one_more_in_for_good() -> None:
    """The places themselves, in one event loop. A in progress, B and C waiting (a cap of 1): A
    waits on a run, so B goes in; A comes back and ends. C must still wait for B: once handed over
    for good, A's place would let every wait raise the cap by one (seen: bob's 200 run starts, each
    waiting for its claim, took his cap of 4 to over 200 under a flood)."""

    async def scenario() -> list[str]:
        places = Places(cap=1, queue_cap=10)
        admitted: list[str] = []

        async def request(name: str) -> None:
            assert await places.enter("bob")
            admitted.append(name)

        await request("A")
        waiting_b, waiting_c = asyncio.create_task(request("B")), asyncio.create_task(request("C"))
        await asyncio.sleep(0)
        a = _Place(places, "bob")
        a.give_back()  # A waits on a run
        a.take_again()  # and is back
        a.give_back()  # and ends
        await asyncio.sleep(0)
        seen = list(admitted)
        places.leave("bob")  # B ends
        await asyncio.gather(waiting_b, waiting_c)
        places.leave("bob")  # C ends
        assert places.callers == {}  # nothing left counted
        return seen

    assert asyncio.run(scenario()) == ["A", "B"]
