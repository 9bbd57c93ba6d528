"""Greenroom against what a team would use instead, measured in one run, side by side (issue 15).

    .venv/bin/python bench/versus.py [--requests 300] [--clients 50] [--workers 2]
        [--database-url ...] [--redis-url ...]

Both sides run at once on the same Redis: Greenroom (one API process, a pool of W workers) and the
Celery endpoint of bench/celery_peer.py (one uvicorn process, a prefork pool of W). The machine's
noise is shared: sequential requests alternate between the sides (the order swapped every round),
and throughput phases alternate, each side several times. The rows:

  - run-sync of a no-op PYTHON_CALLABLE task beside the Celery endpoint: sequential p50 and p99, and
    runs/s with --clients clients (wrk's connections where it is installed: Python client threads
    cost the machine about as much CPU per run as the API; bench/cpu_per_run.py);
  - run-sync of a no-op process actor (`main.py`: `pass`) beside a bare `subprocess.run([python,
    main.py])` of the same file: sequential p50, and runs/s with --clients clients beside W bare
    `subprocess.run` loops in threads;
  - `GET /v2/actor-runs/:id` beside the peer's bare Starlette JSON answer, with wrk (64 connections):
    req/s and p99 (skipped without Debian's `wrk`);
  - dataset items pushed in batches of 1,000 and records put (by wrk, 8 connections, where it is
    installed: Python clients cost more CPU per put than the API), against the issue's absolute
    targets (20,000 items/s, 2,000 puts/s);
  - runs started (POST .../runs, not waiting) beside the peer's enqueues (`delay()` without `get()`).

Greenroom's rate limits are raised out of the way (they are a policy, not a cost: their counting
still runs), and so are the per-user limits on READY runs that the start rows would reach.

It prints a table with each row's ratio to its peer, and checks nothing but that every request
succeeded. Never a test: figures, not verdicts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as `python bench/versus.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, add_redis_url, command_line, table_report
from bench.common import (
    Setup,
    api_client,
    child_env,
    free_port,
    greenroom_settings,
    nearest_rank,
    setup,
    software,
    start_greenroom,
)
from bench.run_sync import NOOP_VERSIONS, create_task
from bench.versus_rows import (
    have_wrk,
    push_rate,
    put_rate,
    run_reads_beside_bare,
    spread,
    start_rates,
    wrk_post_rate,
    wrk_put_rate,
)

Call = Callable[[], None]
TIMEOUT_S = 60


def start_celery_peer(bench: Setup, workers: int) -> str:
    """The Celery worker pool and its HTTP endpoint, started and answering; the endpoint's URL."""
    env = child_env({"BENCH_CELERY_URL": bench.redis.url, "BENCH_CELERY_QUEUE": f"{bench.tag}-celery"})
    pool = [sys.executable, "-m", "celery", "-A", "bench.celery_peer", "worker", "-P", "prefork"]
    pool += [
        "-c",
        str(workers),
        "-l",
        "warning",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    bench.children.start(pool, env)
    port = free_port()
    http = [sys.executable, "-m", "uvicorn", "bench.celery_peer:http", "--port", str(port), "--no-access-log"]
    api = bench.children.start([*http, "--log-level", "warning"], env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # answering means both the endpoint and a worker are up: the call goes through
        if api.poll() is not None:
            raise RuntimeError("the Celery endpoint exited during start-up")
        try:
            if httpx.post(f"{url}/run", timeout=5, trust_env=False).status_code == 201:
                return url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the Celery endpoint did not answer within 60 s")
        time.sleep(0.1)


def _post(client: httpx.Client, path: str) -> Call:
    def call() -> None:
        response = client.post(path)
        if response.status_code != 201:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:200]}")

    return call


def _subprocess(main_py: Path) -> Call:
    def call() -> None:
        subprocess.run([sys.executable, str(main_py)], check=True, cwd=main_py.parent)

    return call


def paired_sequential(a: Call, b: Call, requests: int, warmup: int) -> tuple[list[float], list[float]]:
    """Latencies of a and b, one request at a time, alternating (who goes first swaps each round)."""
    for _ in range(warmup):
        a()
        b()
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(requests):
        order = ((0, a), (1, b)) if i % 2 == 0 else ((1, b), (0, a))
        for side, call in order:
            start = time.perf_counter()
            call()
            times[side].append(time.perf_counter() - start)
    return times


def throughput(make_call: Callable[[], Call], clients: int, requests: int) -> float:
    """Calls per second: `clients` clients, each with its own call (its own connection), share
    `requests`, each warm before the clock starts."""
    return spread(clients, requests, lambda _: make_call(), warm=True)


Phase = Callable[[], float]  # one throughput phase of one side: its calls/s


def alternating_throughput(a: Phase, b: Phase, rounds: int) -> tuple[float, float]:
    """The median of each side's runs/s over `rounds` phases each, the phases alternating."""
    rates: tuple[list[float], list[float]] = ([], [])
    for i in range(rounds):
        for side, phase in ((0, a), (1, b)) if i % 2 == 0 else ((1, b), (0, a)):
            rates[side].append(phase())
    return nearest_rank(rates[0], 50), nearest_rank(rates[1], 50)


CELERY = "Celery over HTTP"
BARE = "bare Starlette JSON"
TARGET = "the issue's target"
# Limits that are policies, not costs: high enough never to refuse the benchmark.
OUT_OF_THE_WAY = {
    "rate_limit_per_s": 1_000_000,
    "rate_limit_resource_per_s": 1_000_000,
    "rate_limit_record_per_s": 1_000_000,
    "rate_limit_heavy_per_s": 1_000_000,
    "max_ready_runs": 1_000_000,
    "max_in_flight_per_caller": 0,
}


def _say(what: str) -> None:
    print(f"measuring: {what} ...", file=sys.stderr, flush=True)


def _row(what: str, ours: float, peer: str, theirs: float) -> tuple[str, ...]:
    digits = 1 if what.endswith("(ms)") else 0
    return (what, f"{ours:.{digits}f}", peer, f"{theirs:.{digits}f}", f"{ours / theirs:.2f}")


def _ms(values: list[float], q: float) -> float:
    return 1000 * nearest_rank(values, q)


def _drained(client: httpx.Client, timeout_s: float = 600) -> None:
    """Until no run of the benchmark's user is READY or RUNNING (the start row leaves many)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        limits = client.get("/users/me/limits").json()["data"]["current"]
        if (
            not limits["activeActorJobCount"]
            and not client.get("/actor-runs", params={"status": "READY", "limit": 1}).json()["data"]["items"]
        ):
            return
        time.sleep(0.5)
    raise RuntimeError("the started runs did not drain")


def _more_rows(
    args: argparse.Namespace, bench: Setup, base_url: str, celery_url: str, task: str
) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    with api_client(base_url, bench.token, timeout=TIMEOUT_S) as client:
        run = client.post(f"/actor-tasks/{task}/runs", params={"waitForFinish": 60}).json()["data"]
        if have_wrk():
            _say("GET a run beside a bare Starlette answer, wrk with 64 connections")
            ours, theirs = run_reads_beside_bare(
                f"{base_url}/v2/actor-runs/{run['id']}",
                bench.token,
                f"{celery_url}/bare",
                args.wrk_seconds,
                2,
            )
            rows.append(_row("GET /v2/actor-runs/:id, 64 connections (req/s)", ours[0], BARE, theirs[0]))
            rows.append(_row("GET /v2/actor-runs/:id, 64 connections p99 (ms)", ours[1], BARE, theirs[1]))
        _say("dataset items pushed in batches of 1,000, 4 clients")
        rows.append(
            _row(
                "dataset items pushed, 4 clients (items/s)",
                push_rate(base_url, bench.token, 4, 200, 1000),
                TARGET,
                20_000,
            )
        )
        # wrk where there is one: the Python clients' own CPU per put was more than the API's.
        if have_wrk():
            _say("records put, wrk with 8 connections")
            rate = wrk_put_rate(base_url, bench.token, 8, args.wrk_seconds)
            put = ("records put, wrk 8 connections (puts/s)", rate)
        else:
            _say("records put, 8 clients")
            put = ("records put, 8 clients (puts/s)", put_rate(base_url, bench.token, 8, 4000))
        rows.append(_row(*put, TARGET, 2_000))
        _say(f"starting {args.starts} runs beside {args.starts} Celery enqueues, {args.clients} clients")

        def start() -> Call:
            return _post(api_client(base_url, bench.token, timeout=TIMEOUT_S), f"/actor-tasks/{task}/runs")

        def enqueue() -> Call:
            return _post(httpx.Client(base_url=celery_url, timeout=TIMEOUT_S, trust_env=False), "/enqueue")

        ours_rate, theirs_rate = start_rates(start, enqueue, args.clients, args.starts)
        rows.append(
            _row(f"runs started, {args.clients} clients (runs/s)", ours_rate, "Celery enqueues", theirs_rate)
        )
        _drained(client)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="sequential requests per side (300)")
    parser.add_argument(
        "--clients", type=int, default=50, help="concurrent clients in throughput phases (50)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="throughput phases per side (3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, each side (2)")
    parser.add_argument("--wrk-seconds", type=float, default=5, help="each wrk phase (5)")
    parser.add_argument("--starts", type=int, default=2000, help="runs started, each side (2000)")
    add_database_url(parser)
    add_redis_url(parser)
    args = parser.parse_args(argv)
    command = command_line("bench/versus.py", argv)
    load_before = os.getloadavg()[0]
    per_phase = max(args.requests, 4 * args.clients)
    rows: list[tuple[str, ...]] = []
    with setup(args.redis_url, args.database_url) as bench:
        settings = greenroom_settings(bench, **OUT_OF_THE_WAY)
        start_greenroom(bench, settings, args.workers)
        celery_url = start_celery_peer(bench, args.workers)
        with api_client(settings.api_base_url, bench.token, timeout=30) as admin:
            callable_task = create_task(admin, "noop-callable", NOOP_VERSIONS["callable"])
            process_task = create_task(admin, "noop-process", NOOP_VERSIONS["process"])
        main_py = bench.tmp / "bare" / "main.py"
        main_py.parent.mkdir()
        main_py.write_text("pass\n")

        def greenroom(task: str) -> Call:
            client = api_client(settings.api_base_url, bench.token, timeout=TIMEOUT_S)
            return _post(client, f"/actor-tasks/{task}/run-sync")

        def celery() -> Call:
            return _post(httpx.Client(base_url=celery_url, timeout=TIMEOUT_S, trust_env=False), "/run")

        # Throughput with wrk where there is one: 50 Python client threads cost the machine about as
        # much CPU per run as the API (bench/cpu_per_run.py), on the cores both sides need.
        with_wrk = have_wrk()
        clients = f"{args.clients} wrk connections" if with_wrk else f"{args.clients} clients"
        auth = {"Authorization": f"Bearer {bench.token}"}

        # wrk stops with its last requests unanswered: their runs are let finish before the next
        # phase, which is the other side's.
        def run_syncs(task: str, requests: int) -> Phase:
            if not with_wrk:
                return lambda: throughput(lambda: greenroom(task), args.clients, requests)
            url = f"{settings.api_base_url}/v2/actor-tasks/{task}/run-sync"

            def phase() -> float:
                rate = wrk_post_rate(url, args.wrk_seconds, args.clients, auth)
                with api_client(settings.api_base_url, bench.token, timeout=TIMEOUT_S) as admin:
                    _drained(admin)
                return rate

            return phase

        def celery_runs(requests: int) -> Phase:
            if not with_wrk:
                return lambda: throughput(celery, args.clients, requests)

            def phase() -> float:
                rate = wrk_post_rate(f"{celery_url}/run", args.wrk_seconds, args.clients, {})
                time.sleep(1)  # its last 50 no-op tasks take about a tenth of that
                return rate

            return phase

        _say("callable run-sync beside Celery, sequential")
        ours, theirs = paired_sequential(greenroom(callable_task), celery(), args.requests, 20)
        for q in (50, 99):
            rows.append(
                _row(f"run-sync no-op callable, sequential p{q} (ms)", _ms(ours, q), CELERY, _ms(theirs, q))
            )
        _say(f"callable run-sync beside Celery, {clients}")
        rates = alternating_throughput(
            run_syncs(callable_task, per_phase), celery_runs(per_phase), args.rounds
        )
        rows.append(_row(f"run-sync no-op callable, {clients} (runs/s)", rates[0], CELERY, rates[1]))
        _say("process run-sync beside subprocess.run, sequential")
        ours, theirs = paired_sequential(greenroom(process_task), _subprocess(main_py), args.requests // 2, 5)
        p50s = _ms(ours, 50), _ms(theirs, 50)
        rows.append(_row("run-sync no-op process, sequential p50 (ms)", p50s[0], "subprocess.run", p50s[1]))
        rows[-1] = (*rows[-1][:4], f"+{p50s[0] - p50s[1]:.1f} ms")  # the target is a difference
        _say(f"process run-sync beside {args.workers} subprocess loops")
        rates = alternating_throughput(
            run_syncs(process_task, per_phase // 2),
            lambda: throughput(lambda: _subprocess(main_py), args.workers, per_phase // 2),
            args.rounds,
        )
        bare = f"{args.workers} subprocess.run loops"
        rows.append(_row(f"run-sync no-op process, {clients} (runs/s)", rates[0], bare, rates[1]))
        rows += _more_rows(args, bench, settings.api_base_url, celery_url, callable_task)
    load_after = os.getloadavg()[0]
    header = [
        ("command", command),
        ("database", bench.database_description),
        ("redis", f"{bench.redis.description} (prefix {bench.tag})"),
        (
            "sides",
            f"Greenroom: 1 API process, {args.workers} workers; Celery: 1 uvicorn, prefork {args.workers}",
        ),
        ("software", software()),
        ("load", f"1-min load average {load_before:.2f} at start, {load_after:.2f} at end"),
    ]
    columns = ("what", "Greenroom", "peer", "peer's", "ratio")
    print("\n".join(table_report(header, columns, rows)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
