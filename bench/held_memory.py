"""What a held run-sync keeps alive in the API process, by package and by line (tracemalloc).

    .venv/bin/python bench/held_memory.py [--held 2000] [--top 15]

bench/hold.py measures the RSS per held request; this says what it is made of. It starts an API (no
workers: every run stays READY, every run-sync waits) in a process of its own that runs under
tracemalloc (`--serve`, started by this script), holds a few hundred run-syncs to warm it, takes a
snapshot, holds --held more, waits for them to settle, and takes another. It prints the Python
allocations that grew, per held request: by package (the innermost frame that names one) and by
line. The RSS growth it prints includes tracemalloc's own tracebacks; bench/hold.py measures RSS
without them (28.4 KB per request on 2026-12-06, close to the 27.9 KB traced here).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/held_memory.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PACKAGES = ("uvicorn", "starlette", "sqlalchemy", "redis", "anyio", "asyncio", "/server/", "/worker/")


def serve(snapshots: Path) -> None:
    """The API under tracemalloc; `snapshots`/N.go asks for snapshot N (written to N.snap, then N.done)."""
    tracemalloc.start(12)

    def on_request() -> None:
        n = 0
        while True:
            if (snapshots / f"{n}.go").exists():
                tracemalloc.take_snapshot().dump(str(snapshots / f"{n}.snap"))
                (snapshots / f"{n}.done").touch()
                n += 1
            time.sleep(0.1)

    threading.Thread(target=on_request, daemon=True).start()
    from server.cli.processes import serve_api
    from server.settings import Settings

    serve_api(Settings.from_env())


def _snapshot(snapshots: Path, n: int, pid: int) -> tuple[tracemalloc.Snapshot, int]:
    (snapshots / f"{n}.go").touch()
    while not (snapshots / f"{n}.done").exists():
        time.sleep(0.1)
    return tracemalloc.Snapshot.load(str(snapshots / f"{n}.snap")), _rss_kb(pid)


def _rss_kb(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _package(frames: list[tracemalloc.Frame]) -> str:
    for frame in reversed(frames):
        for name in PACKAGES:
            if name in frame.filename:
                return name.strip("/")
    return "other"


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, held: int, top: int) -> None:
    stats = after.compare_to(before, "traceback")
    by_package: collections.Counter[str] = collections.Counter()
    for stat in stats:
        by_package[_package(list(stat.traceback))] += stat.size_diff
    total = sum(by_package.values())
    print(f"traced growth: {total / held:8.0f} B per held request")
    for package, size in by_package.most_common():
        print(f"  {size / held:8.0f} B  {package}")
    print("by line (the allocating line):")
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        where = frame.filename.split("site-packages/")[-1].split("python3.11/")[-1]
        print(
            f"  {stat.size_diff / held:8.0f} B  {stat.count_diff / held:5.1f} blocks  {where}:{frame.lineno}"
        )


async def measure(args: argparse.Namespace) -> int:
    from bench.common import api_client, child_env, create_actor, greenroom_settings, setup, wait_for_api
    from bench.hold import Held, Runs, hold_run_syncs
    from bench.noop import NOOP_CALLABLE
    from bench.versus import OUT_OF_THE_WAY
    from server.storage.db import SyncDatabase, create_sync_engine

    with setup(None, args.database_url) as bench, tempfile.TemporaryDirectory() as scratch:
        snapshots = Path(scratch)
        settings = greenroom_settings(bench, run_sync_wait_s=3600, **OUT_OF_THE_WAY)
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(snapshots)]
        api = subprocess.Popen(command, env=child_env(settings.to_env()))
        db = SyncDatabase(create_sync_engine(bench.database_url))
        try:
            wait_for_api(settings.api_base_url, api)
            with api_client(settings.api_base_url, bench.token, timeout=30) as client:
                noop = {"sourceType": "PYTHON_CALLABLE", "callable": NOOP_CALLABLE}
                act_id = create_actor(client, "held", noop)
            connecting = asyncio.Semaphore(64)
            runs = Runs(db, act_id)
            warm, held = Held(), Held()
            # Each returns once the API has created every run: every request is held then.
            await hold_run_syncs(warm, settings, bench.token, act_id, runs, 300, connecting)
            await asyncio.sleep(args.settle_s)
            before, rss_before = await asyncio.to_thread(_snapshot, snapshots, 0, api.pid)
            await hold_run_syncs(held, settings, bench.token, act_id, runs, args.held, connecting)
            await asyncio.sleep(args.settle_s)
            after, rss_after = await asyncio.to_thread(_snapshot, snapshots, 1, api.pid)
            early = len(warm.answers) + len(held.answers)
            print(f"held: {args.held} run-syncs ({early} answered early, {len(held.errors)} errors)")
            growth = (rss_after - rss_before) * 1024 / args.held
            print(f"RSS growth: {growth:8.0f} B per held request (with tracemalloc's own tracebacks)")
            report(before, after, args.held, args.top)
        finally:
            api.kill()
            api.wait()
            db.engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--held", type=int, default=2000, help="run-syncs held and measured (2000)")
    parser.add_argument("--top", type=int, default=15, help="lines printed (15)")
    parser.add_argument("--settle-s", type=float, default=3.0, help="wait after each batch (3)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the API process itself
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve)
        return 0
    return asyncio.run(measure(args))


if __name__ == "__main__":
    sys.exit(main())
