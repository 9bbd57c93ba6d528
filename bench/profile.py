"""Where a no-op run's CPU goes: one Greenroom under run-sync load, its processes sampled by py-spy.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile.py [--kind callable|process|puts|get] [--seconds 20] [--clients 50]
        [--workers 2] [--wall] [--out /tmp/greenroom-profile] [--database-url ...] [--redis-url ...]

Starts a Greenroom (an API and a pool of --workers), loads it with --clients run-sync clients of a
no-op task (--kind puts: --clients clients putting small records; --kind get: Debian's wrk getting
one run; as `make bench`'s rows), and meanwhile records the API and the pool (its workers and the
actors they fork) with `py-spy record --gil --format raw` for --seconds. Prints the heaviest frames
of each, in percent of its samples, by own time and by time including callees; the raw files
(flamegraph.pl's input) stay in --out. The profile names candidates; a change is then measured
with bench/cost.py. `--wall` samples every thread, waiting or not (`py-spy record --idle`): with
`--clients 1`, where a run-sync's time goes rather than its CPU.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/profile.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, add_redis_url
from bench.common import api_client, greenroom_settings, setup, start_greenroom
from bench.run_sync import NOOP_VERSIONS, create_task
from bench.versus import OUT_OF_THE_WAY
from bench.versus_rows import put_rate, spread, wrk


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kind", choices=[*sorted(NOOP_VERSIONS), "puts", "get"], default="callable")
    parser.add_argument("--seconds", type=int, default=20, help="sampled for (20)")
    parser.add_argument("--clients", type=int, default=50, help="run-sync clients (50)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--wall", action="store_true", help="every thread, idle too: time, not CPU")
    parser.add_argument("--top", type=int, default=25, help="frames printed per process and view (25)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/greenroom-profile"))
    add_database_url(parser)
    add_redis_url(parser)
    return parser.parse_args(argv)


def _record(pid: int, seconds: int, out: Path, wall: bool) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "--idle" if wall else "--gil", "--subprocesses", "--rate", "200"]
    command += ["--duration", str(seconds)]
    command += ["--format", "raw", "--output", str(out), "--pid", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def heaviest(raw: Path, top: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(own, inclusive): the `top` frames by percent of samples, from py-spy's raw (folded) output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")[1:]  # the first is the process/thread
        n = int(count)
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    share = 100 / max(total, 1)
    return (
        [(f, n * share) for f, n in own.most_common(top)],
        [(f, n * share) for f, n in inclusive.most_common(top)],
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with setup(args.redis_url, args.database_url) as bench:
        settings = greenroom_settings(bench, **OUT_OF_THE_WAY)
        api, pool = start_greenroom(bench, settings, args.workers)
        stop = threading.Event()
        if args.kind == "puts":

            def load() -> None:
                while not stop.is_set():
                    put_rate(settings.api_base_url, bench.token, args.clients, args.clients * 200)

        elif args.kind == "get":
            with api_client(settings.api_base_url, bench.token, timeout=60) as client:
                task = create_task(client, "noop-callable", NOOP_VERSIONS["callable"])
                run = client.post(f"/actor-tasks/{task}/runs", params={"waitForFinish": 60}).json()["data"]
            url = f"{settings.api_base_url}/v2/actor-runs/{run['id']}"

            def load() -> None:
                while not stop.is_set():
                    wrk(url, 2, {"Authorization": f"Bearer {bench.token}"})

        else:
            with api_client(settings.api_base_url, bench.token, timeout=60) as client:
                task = create_task(client, f"noop-{args.kind}", NOOP_VERSIONS[args.kind])
            path = f"/actor-tasks/{task}/run-sync"

            def call(_: int) -> Callable[[], None]:
                client = api_client(settings.api_base_url, bench.token, timeout=60)

                def run_sync() -> None:
                    client.post(path).raise_for_status()

                return run_sync

            def load() -> None:
                while not stop.is_set():
                    spread(args.clients, args.clients * 20, call)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        processes = {"api": api.pid, "pool": pool.pid}
        recorders = {
            name: _record(pid, args.seconds, args.out / f"{name}.raw", args.wall)
            for name, pid in processes.items()
        }
        for recorder in recorders.values():
            recorder.wait()
        stop.set()
        loader.join()
    for name in recorders:
        own, inclusive = heaviest(args.out / f"{name}.raw", args.top)
        for view, rows in (("own", own), ("inclusive", inclusive)):
            print(f"\n== {name}: {view} time, % of samples")
            for frame, percent in rows:
                print(f"{percent:6.1f}  {frame}")
    print(f"\nraw profiles: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
