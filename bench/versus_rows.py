"""The rows of bench/versus.py beyond run-sync: reading a run beside a bare Starlette answer (wrk),
storage writes against the issue's absolute targets, and starting runs beside Celery's enqueues.

Each function measures both sides (or Greenroom alone, for a target) and returns the figures; the
table is versus.py's.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from bench.common import api_client, nearest_rank

WRK_CONNECTIONS = 64
Call = Callable[[], None]  # one request, raising on anything but success


def wrk(
    url: str, seconds: float, headers: dict[str, str], *, connections: int = WRK_CONNECTIONS, script: str = ""
) -> tuple[float, float]:
    """(requests/s, p99 ms) of Debian's wrk: 2 threads, `connections` connections, `script` (Lua) if
    given; raises if any answer was not 2xx."""
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    with contextlib.ExitStack() as stack:
        if script:
            lua = stack.enter_context(tempfile.NamedTemporaryFile("w", suffix=".lua"))
            lua.write(script)
            lua.flush()
            argv += ["-s", lua.name]
        out = subprocess.run(
            [*argv, url], capture_output=True, text=True, timeout=seconds + 60, check=True
        ).stdout
    if (bad := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) is not None:
        raise RuntimeError(f"wrk got {bad.group(1)} answers that were not 2xx from {url}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    if rate is None or p99 is None:
        raise RuntimeError(f"wrk printed no figures: {out!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return float(rate.group(1)), float(p99.group(1)) * scale


def wrk_post_rate(url: str, seconds: float, connections: int, headers: dict[str, str]) -> float:
    """POSTs/s of wrk with `connections` connections (each waits for its answer before the next):
    run-syncs, with a client whose own CPU is small beside the servers'."""
    return wrk(url, seconds, headers, connections=connections, script='wrk.method = "POST"\n')[0]


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_reads_beside_bare(
    run_url: str, token: str, bare_url: str, seconds: float, rounds: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """GET one run (Greenroom) and GET the bare endpoint, alternating: the medians of (req/s, p99 ms)."""
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for i in range(rounds):
        sides = [(ours, run_url, {"Authorization": f"Bearer {token}"}), (theirs, bare_url, {})]
        for figures, url, headers in sides if i % 2 == 0 else sides[::-1]:
            figures.append(wrk(url, seconds, headers))
    return _medians(ours), _medians(theirs)


def _medians(figures: list[tuple[float, float]]) -> tuple[float, float]:
    return nearest_rank([f[0] for f in figures], 50), nearest_rank([f[1] for f in figures], 50)


def spread(
    clients: int, calls: int, make: Callable[[int], Callable[[], None]], *, warm: bool = False
) -> float:
    """Calls per second: `clients` threads share `calls`, each with its own call (make(i): its own
    connection); the clock runs from a common start to the last answer. warm: each client makes one
    call first, off the clock (connected and warm)."""
    left = [calls]
    lock = threading.Lock()
    start_line = threading.Barrier(clients + 1, timeout=60)

    def client(i: int) -> float:
        call = make(i)
        if warm:
            call()
        start_line.wait()
        while True:
            with lock:
                if left[0] == 0:
                    return time.perf_counter()
                left[0] -= 1
            call()

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client, i) for i in range(clients)]
        start_line.wait()
        start = time.perf_counter()
        end = max(f.result() for f in futures)
    return calls / (end - start)


def _ok(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        raise RuntimeError(f"{what} answered {response.status_code}: {response.text[:200]}")


def push_rate(base_url: str, token: str, clients: int, batches: int, batch: int) -> float:
    """Dataset items/s: `clients` clients each push batches of `batch` small items to a dataset of
    their own, `batches` pushes in all."""
    items = [{"url": f"https://example.com/{i}", "title": f"Item {i}", "price": i} for i in range(batch)]

    def make(i: int) -> Callable[[], None]:
        client = api_client(base_url, token, timeout=60)
        dataset = client.post("/datasets", params={"name": f"bench-push-{i}-{time.time_ns()}"})
        _ok(dataset, "POST /datasets")
        path = f"/datasets/{dataset.json()['data']['id']}/items"
        return lambda: _ok(client.post(path, json=items), f"POST {path}")

    return batch * spread(clients, batches, make)


def put_rate(base_url: str, token: str, clients: int, puts: int) -> float:
    """Records put/s: `clients` clients each put small JSON records into a store of their own."""
    counter = iter(range(10**9))

    def make(i: int) -> Callable[[], None]:
        client = api_client(base_url, token, timeout=60)
        path = f"/key-value-stores/{_new_store(client, i)}/records"

        def put() -> None:
            key = f"r{next(counter) % 1000}"
            _ok(client.put(f"{path}/{key}", json={"n": key}), f"PUT {path}/{key}")

        return put

    return spread(clients, puts, make)


# Each wrk thread puts into a store of its own, small JSON records under 1,000 keys in turn.
_PUTS_LUA = """
local stores = {%s}
local made = 0
function setup(thread)
  made = made + 1
  thread:set("store", stores[made])
end
local n = 0
function request()
  n = n + 1
  local path = "/v2/key-value-stores/" .. store .. "/records/r" .. (n %% 1000)
  return wrk.format("PUT", path, nil, '{"n": ' .. n .. '}')
end
"""


def wrk_put_rate(base_url: str, token: str, connections: int, seconds: float) -> float:
    """Records put/s by wrk (2 threads, `connections` connections): what the API can take. A
    Python client's own CPU was more than the API's per put (bench/versus.py says so)."""
    with api_client(base_url, token, timeout=60) as client:
        stores = ", ".join(f'"{_new_store(client, i)}"' for i in range(2))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return wrk(base_url, seconds, headers, connections=connections, script=_PUTS_LUA % stores)[0]


def _new_store(client: httpx.Client, i: int) -> str:
    store = client.post("/key-value-stores", params={"name": f"bench-put-{i}-{time.time_ns()}"})
    _ok(store, "POST /key-value-stores")
    return str(store.json()["data"]["id"])


def start_rates(
    start: Callable[[], Callable[[], None]],
    enqueue: Callable[[], Callable[[], None]],
    clients: int,
    calls: int,
) -> tuple[float, float]:
    """Runs started/s (POST .../runs, not waiting) beside the Celery endpoint's enqueues/s (delay()
    without get()), one after the other; both sides' workers run what was started meanwhile."""
    ours = spread(clients, calls, lambda _: start())
    theirs = spread(clients, calls, lambda _: enqueue())
    return ours, theirs
