"""What the storage calls an actor makes per crawled page cost the API (bench/cost.py's last rows).

A crawl through the Apify SDK or Crawlee calls the API for every page: it locks the queue's head,
adds the links it found, marks the request handled and pushes the page's item. Every actor reads its
INPUT record, and opening its storages reads them. Each call is made `calls` times in a row by one
client, with the API's CPU per call read from /proc around them. Numbers are printed, never asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.common import api_client

HANDLED_AT = "2026-01-01T00:00:00.000Z"


def _costs(client: httpx.Client, calls: int, api_cpu_s: Callable[[], float]) -> dict[str, float]:
    tag = time.time_ns()
    queue = client.post("/request-queues", params={"name": f"bench-calls-{tag}"}).json()["data"]["id"]
    dataset = client.post("/datasets", params={"name": f"bench-calls-{tag}"}).json()["data"]["id"]
    store = client.post("/key-value-stores", params={"name": f"bench-calls-{tag}"}).json()["data"]["id"]
    client.put(f"/key-value-stores/{store}/records/INPUT", json={"startUrls": []}).raise_for_status()
    locked: list[str] = []

    def request(i: int) -> dict[str, Any]:
        return {"url": f"http://127.0.0.1/{tag}/{i}", "uniqueKey": f"{tag}-{i}"}

    def lock(i: int) -> None:
        answer = client.post(f"/request-queues/{queue}/head/lock", params={"lockSecs": 60, "limit": 1})
        locked.extend(item["id"] for item in answer.raise_for_status().json()["data"]["items"])

    def handled(i: int) -> None:
        body = request(i) | {"id": locked[i], "handledAt": HANDLED_AT}
        client.put(f"/request-queues/{queue}/requests/{locked[i]}", json=body).raise_for_status()

    ops: dict[str, Callable[[int], object]] = {
        "add a request": lambda i: client.post(f"/request-queues/{queue}/requests", json=request(i)),
        "lock the head": lock,
        "mark a request handled": handled,
        "push an item": lambda i: client.post(f"/datasets/{dataset}/items", json={"url": f"{i}"}),
        "GET the INPUT record": lambda i: client.get(f"/key-value-stores/{store}/records/INPUT"),
        "GET the store": lambda i: client.get(f"/key-value-stores/{store}"),
        "GET the dataset": lambda i: client.get(f"/datasets/{dataset}"),
    }
    figures: dict[str, float] = {}
    for what, op in ops.items():
        before, began = api_cpu_s(), time.perf_counter()
        for i in range(calls):
            answer = op(i)
            if isinstance(answer, httpx.Response):
                answer.raise_for_status()
        elapsed, cpu = time.perf_counter() - began, api_cpu_s() - before
        figures[f"{what}, one client (calls/s)"] = calls / elapsed
        figures[f"{what}: API CPU per call (ms)"] = 1000 * cpu / calls
    return figures


def storage_call_costs(
    base_url: str, token: str, calls: int, api_cpu_s: Callable[[], float]
) -> dict[str, float]:
    """Per call: calls/s and the API's CPU (api_cpu_s(): its CPU seconds so far)."""
    with api_client(base_url, token, timeout=60) as client:
        return _costs(client, calls, api_cpu_s)
