"""GET /metrics latency against a running Greenroom (`greenroom dev`, or any API you may scrape).

    .venv/bin/python -m bench.metrics [--url http://127.0.0.1:8000] [--token T] [--scrapes 200]

Scrapes one after another (as Prometheus does) and prints p50, p99 and the answer's size. A scrape
reads the facts (a few COUNTs, RQ's worker registrations) and merges every process's metric files,
so the number grows with worker processes and route templates seen, not with requests or runs.
Printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as a script: bench/ beside server/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import nearest_rank


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the API root, no /v2")
    parser.add_argument("--token", default="", help="GREENROOM_METRICS_TOKEN, if it is set")
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    timings_ms: list[float] = []
    size = 0
    with httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=30) as client:
        client.get("/metrics").raise_for_status()  # warm: connection, the first files opened
        for _ in range(args.scrapes):
            began = time.perf_counter()
            answer = client.get("/metrics")
            timings_ms.append((time.perf_counter() - began) * 1000)
            answer.raise_for_status()
            size = len(answer.content)
    print(
        f"GET /metrics x{args.scrapes}: p50 {nearest_rank(timings_ms, 50):.1f} ms, "
        f"p99 {nearest_rank(timings_ms, 99):.1f} ms, {size} bytes, "
        f"{sum(1 for line in answer.text.splitlines() if line and not line.startswith('#'))} samples"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
