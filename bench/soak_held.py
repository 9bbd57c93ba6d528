"""Memory per held request, at the end of a soak (bench/soak.py): many waitForFinish on one run."""

from __future__ import annotations

import asyncio

from bench.common import async_api_client
from bench.hold import Held, hold, http_request, rss_kb, settled
from bench.soak_state import Soak


async def held_memory(soak: Soak, api_pid: int, count: int) -> tuple[float, float]:
    """(KB per held waitForFinish request, seconds from the run's end to the last answer)."""
    async with async_api_client(soak.settings.api_base_url, soak.token) as client:
        started = await client.post(f"/acts/{soak.act_id}/runs", json={"n": -1, "seconds": 8})
        run_id = started.json()["data"]["id"]
    await settled(api_pid, quiet_s=0.5)
    before = rss_kb(api_pid)
    host, port = soak.settings.host, soak.settings.port
    request = http_request("GET", f"/v2/actor-runs/{run_id}?waitForFinish=60", f"{host}:{port}", soak.token)
    held = Held()
    connecting = asyncio.Semaphore(128)
    for _ in range(count):
        hold(held, host, port, request, connecting)
    await settled(api_pid, quiet_s=0.5)
    per_kb = (rss_kb(api_pid) - before) / count
    await asyncio.gather(*list(held.tasks))
    times = [t for t, _ in held.answers]
    return per_kb, (max(times) - min(times)) if times else 0.0
