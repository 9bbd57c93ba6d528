"""The soak's load (bench/soak.py): clients sending run-syncs, with the faults injected meanwhile."""

from __future__ import annotations

import argparse
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from bench.common import api_client
from bench.faults import fault_loop
from bench.soak_state import Answer, Soak

RUN_SYNC_WAIT_S = 120.0


def client_loop(soak: Soak, tickets: list[int], lock: threading.Lock, deadline: float) -> None:
    with api_client(soak.settings.api_base_url, soak.token, timeout=RUN_SYNC_WAIT_S + 30) as client:
        while time.monotonic() < deadline:
            with lock:
                if not tickets:
                    return
                n = tickets.pop()
            body = {"n": n, "seconds": round(random.uniform(0.05, 0.5), 3)}
            try:
                response = client.post(f"/acts/{soak.act_id}/run-sync", json=body)
                parsed = response.json() if response.content else None
                soak.answers.append(Answer(n, response.status_code, parsed))
            except (httpx.HTTPError, ValueError) as exc:
                soak.answers.append(Answer(n, None, None, f"{type(exc).__name__}: {exc}"))


def load(soak: Soak, args: argparse.Namespace) -> float:
    """Clients and faults until --requests are sent or --duration passed; then every request sent is
    waited for (faults stop with the sending). Returns the seconds it took."""
    tickets, lock = list(range(args.requests, 0, -1)), threading.Lock()
    started = time.monotonic()
    deadline = started + args.duration
    faults = threading.Thread(target=fault_loop, args=(soak, args.fault_every), daemon=True)
    faults.start()
    with ThreadPoolExecutor(args.clients) as pool:
        for _ in range(args.clients):
            pool.submit(client_loop, soak, tickets, lock, deadline)
        while time.monotonic() < deadline and tickets:
            time.sleep(0.2)
        soak.sending.set()
    faults.join()
    return time.monotonic() - started
