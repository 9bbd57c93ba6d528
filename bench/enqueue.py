"""What enqueueing one run's job costs the API: CPU and wall time of server.queue.enqueue_run_sync
against a bare two-command pipeline, on the same Redis.

    .venv/bin/python bench/enqueue.py [--jobs 2000] [--redis-url redis://127.0.0.1:6379/0]

The jobs go to a queue of their own, emptied at the end. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from redis import Redis

if __package__ in (None, ""):  # run as `python bench/enqueue.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from server.queue import enqueue_run_sync, make_queue


def _per_call(calls: int, call: Callable[[], object]) -> tuple[float, float]:
    """(CPU us, wall us) per call."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return (time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    redis = Redis.from_url(args.redis_url)
    queue = make_queue(redis, f"bench-enqueue-{uuid.uuid4().hex[:8]}")
    scratch = f"{queue.name}:scratch"

    def pipeline() -> object:
        with redis.pipeline(transaction=False) as batch:
            batch.hset(scratch, mapping={"a": "1", "b": "2"})
            batch.expire(scratch, 60)
            return batch.execute()

    try:
        _per_call(100, lambda: enqueue_run_sync(queue, uuid.uuid4().hex))  # warm
        enqueue = _per_call(args.jobs, lambda: enqueue_run_sync(queue, uuid.uuid4().hex))
        bare = _per_call(args.jobs, pipeline)
    finally:
        queue.empty()  # type: ignore[no-untyped-call]
        redis.delete(scratch)
    print(f"enqueue_run_sync:      {enqueue[0]:6.0f} us CPU, {enqueue[1]:6.0f} us wall per job")
    print(f"a 2-command pipeline:  {bare[0]:6.0f} us CPU, {bare[1]:6.0f} us wall (baseline)")
    print(f"ratio (CPU):           {enqueue[0] / bare[0]:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
