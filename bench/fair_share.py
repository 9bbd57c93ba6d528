"""Fair share: another user's latency and time to start while one user floods, beside a baseline
measured in the same run without the flood.

    .venv/bin/python -m bench.fair_share [--runs 500] [--rate 3000] [--workers 2] [--samples 20]
        [--wrk] [--max-in-flight N] [--max-queued N] [--redis URL] [--database URL]

One Greenroom (an API process and a pool of `--workers`), default limits (`--max-in-flight` and
`--max-queued` set GREENROOM_MAX_IN_FLIGHT_PER_CALLER and GREENROOM_MAX_QUEUED_PER_CALLER). Phase 1
(baseline): alice alone makes GET requests, 20 a second (her actor, then her runs' list), and starts
`--samples` no-op runs one after another, each waited for (`waitForFinish`). Phase 2 (flood): bob
starts `--runs` runs of an actor that holds a worker `--nap` seconds, as fast as the API takes them
(16 at once), while `--flooders` processes send `--rate` GET requests a second as bob; then alice
does as in phase 1. Printed, never asserted: alice's p50/p99 request latency and her runs' time from
POST to finished (a no-op: the wait for a worker slot, then the run), per phase; bob's starts, his
backlog, his requests' answers (200/429) and their rate. `--wrk` floods with Debian's wrk instead
(64 connections, as fast as the API answers), which one Python process cannot."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if __package__ in (None, ""):  # run as a script: bench/ beside server/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    api_client,
    async_api_client,
    create_actor,
    greenroom_settings,
    nearest_rank,
    new_user_token,
    setup,
    software,
    start_greenroom,
)
from bench.noop import NOOP_CALLABLE
from server.settings import Settings

if TYPE_CHECKING:
    from worker.actor_api import ActorContext

NAP_CALLABLE = "bench.fair_share:nap"


def nap(context: ActorContext) -> None:
    """bob's actor: holds a worker slot for input.seconds."""
    time.sleep(float((context.input or {}).get("seconds", 1)))


def _alice(base_url: str, token: str, actor_id: str, samples: int) -> tuple[list[float], list[float]]:
    """(request latencies ms, run POST-to-finished ms)."""
    latencies: list[float] = []
    runs: list[float] = []
    with api_client(base_url, token, timeout=120) as api:
        for _ in range(samples):
            for path in (f"/acts/{actor_id}", "/actor-runs"):
                for _ in range(5):
                    began = time.perf_counter()
                    api.get(path).raise_for_status()
                    latencies.append((time.perf_counter() - began) * 1000)
                    time.sleep(0.05)  # alice is an ordinary client: 20 requests a second
            began = time.perf_counter()
            run = api.post(f"/acts/{actor_id}/runs", params={"waitForFinish": 60}).json()["data"]
            runs.append((time.perf_counter() - began) * 1000)
            if run["status"] != "SUCCEEDED":
                raise RuntimeError(f"alice's run ended {run['status']}")
    return latencies, runs


def _flood_requests(base_url: str, token: str, rate: int, stop: Any, out: Any) -> None:
    """In its own process: GET /v2/users/me as bob at `rate` a second until `stop` is set."""

    async def flood() -> Counter[int]:
        statuses: Counter[int] = Counter()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with async_api_client(base_url, token, timeout=30, limits=limits) as api:
            began = time.monotonic()
            sent = 0

            async def one() -> None:
                try:
                    statuses[(await api.get("/users/me")).status_code] += 1
                except httpx.HTTPError:
                    statuses[0] += 1

            pending: set[asyncio.Task[None]] = set()
            while not stop.is_set():
                elapsed = time.monotonic() - began
                due = int(elapsed * rate) - sent
                for _ in range(max(0, min(due, 64 - len(pending)))):
                    task = asyncio.create_task(one())
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    sent += 1
                await asyncio.sleep(0.002)
            await asyncio.gather(*pending)
        statuses[-1] = int((time.monotonic() - began) * 1000)  # the flood's length, ms
        return statuses

    out.put(dict(asyncio.run(flood())))


def _wrk_flood(base_url: str, token: str) -> subprocess.Popen[str]:
    """bob's GETs from wrk (Debian's `wrk`): as fast as one API process answers, which one Python
    client cannot reach (about 150/s here). Stopped with SIGINT, when it prints its figures."""
    argv = [
        "wrk",
        "-t2",
        "-c64",
        "-d3600s",
        "-H",
        f"Authorization: Bearer {token}",
        f"{base_url}/v2/users/me",
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def _wrk_figures(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    sent = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m|h)\b", out)
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if sent is None:
        return f"wrk printed no figures: {out!r}"
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[sent.group(3)]
    count, seconds = int(sent.group(1)), float(sent.group(2)) * scale
    not_ok = refused.group(1) if refused else 0
    return f"{count} GETs in {seconds:.1f} s ({count / seconds:.0f}/s), {not_ok} not 2xx"


async def _flood_runs(base_url: str, token: str, actor_id: str, runs: int, nap_s: float) -> Counter[int]:
    statuses: Counter[int] = Counter()
    async with async_api_client(base_url, token, retry_429=True, timeout=60) as api:
        gate = asyncio.Semaphore(16)

        async def start() -> None:
            async with gate:
                answer = await api.post(f"/acts/{actor_id}/runs", json={"seconds": nap_s})
                statuses[answer.status_code] += 1

        await asyncio.gather(*(start() for _ in range(runs)))
    return statuses


def _row(label: str, latencies: list[float], runs: list[float]) -> str:
    return (
        f"| {label} | {nearest_rank(latencies, 50):.1f} | {nearest_rank(latencies, 99):.1f} | "
        f"{nearest_rank(runs, 50):.0f} | {nearest_rank(runs, 99):.0f} | {max(runs):.0f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=500, help="bob's runs")
    parser.add_argument("--rate", type=int, default=3000, help="bob's GET requests a second")
    parser.add_argument("--nap", type=float, default=1.0, help="seconds each of bob's runs holds a worker")
    parser.add_argument("--flooders", type=int, default=2, help="processes sending bob's GETs")
    parser.add_argument(
        "--wrk", action="store_true", help="bob's GETs from wrk, as fast as the API answers (--rate unused)"
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=Settings().max_in_flight_per_caller,
        help="GREENROOM_MAX_IN_FLIGHT_PER_CALLER (0: no cap)",
    )
    parser.add_argument(
        "--max-queued",
        type=int,
        default=Settings().max_queued_per_caller,
        help="GREENROOM_MAX_QUEUED_PER_CALLER (0: refuse at once beyond the cap)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--samples", type=int, default=20, help="alice's runs per phase (10 GETs each)")
    parser.add_argument("--redis", help="a Redis URL (default: the local one, else a private redis-server)")
    parser.add_argument("--database", help="a database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    with setup(args.redis, args.database) as bench:
        settings = greenroom_settings(
            bench, max_in_flight_per_caller=args.max_in_flight, max_queued_per_caller=args.max_queued
        )
        start_greenroom(bench, settings, args.workers)
        base = settings.api_base_url
        alice, bob = bench.token, new_user_token(bench.database_url, f"{bench.tag}-bob")
        with api_client(base, alice) as api:
            alice_actor = create_actor(
                api, "quick", {"sourceType": "PYTHON_CALLABLE", "callable": NOOP_CALLABLE}
            )
        with api_client(base, bob) as api:
            bob_actor = create_actor(api, "nap", {"sourceType": "PYTHON_CALLABLE", "callable": NAP_CALLABLE})
        print(
            f"{bench.database_description}; {software()}; {args.workers} workers; "
            f"at most {args.max_in_flight or 'any number of'} requests in progress per caller, "
            f"{args.max_queued} waiting"
        )
        _alice(base, alice, alice_actor, 2)  # warm
        baseline = _alice(base, alice, alice_actor, args.samples)

        context = multiprocessing.get_context("spawn")
        stop, results = context.Event(), context.Queue()
        rate = args.rate // args.flooders
        flooders = [
            context.Process(target=_flood_requests, args=(base, bob, rate, stop, results))
            for _ in range(0 if args.wrk else args.flooders)
        ]
        for flooder in flooders:
            flooder.start()
        wrk = _wrk_flood(base, bob) if args.wrk else None
        try:
            began = time.monotonic()
            starts = asyncio.run(_flood_runs(base, bob, bob_actor, args.runs, args.nap))
            print(f"bob: {args.runs} starts in {time.monotonic() - began:.1f} s: {dict(starts)}")
            with api_client(base, bob, retry_429=True, timeout=60) as api:
                backlog = api.get("/actor-runs", params={"status": "READY", "limit": 1}).json()["data"][
                    "total"
                ]
            print(f"bob's runs READY as alice starts: {backlog}")
            flooded = _alice(base, alice, alice_actor, args.samples)
            stop.set()
            answered: Counter[int] = Counter()
            length_s = 0.0
            for _ in flooders:
                one = results.get(timeout=120)
                length_s = max(length_s, one.pop(-1) / 1000)
                answered.update(one)
            for flooder in flooders:
                flooder.join()
            if wrk is not None:
                print(f"bob (wrk): {_wrk_figures(wrk)}")
            else:
                sent = sum(answered.values())
                print(f"bob: {sent} GETs in {length_s:.1f} s ({sent / length_s:.0f}/s): {dict(answered)}")
        finally:  # wrk must not outlive a failed run, flooding on and skewing the next measurement
            if wrk is not None and wrk.poll() is None:
                wrk.kill()
        with api_client(base, bob, retry_429=True, timeout=60) as api:
            waiting = api.get("/actor-runs", params={"status": "READY", "limit": 1}).json()["data"]["total"]
            print(f"bob's runs still READY after alice's phase: {waiting}")
            for run in api.get("/actor-runs", params={"status": "READY", "limit": 1000}).json()["data"][
                "items"
            ]:
                api.post(f"/actor-runs/{run['id']}/abort")
        print()
        print("| alice | request p50 ms | request p99 ms | run p50 ms | run p99 ms | run max ms |")
        print("|---|---|---|---|---|---|")
        print(_row("alone (baseline)", *baseline))
        flood = "wrk as fast as answered" if args.wrk else f"{args.rate} req/s"
        print(_row(f"bob floods ({args.runs} runs, {flood})", *flooded))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
