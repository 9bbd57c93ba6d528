"""Actor start benchmark: from a run's start to its actor's first line of code, beside a bare
subprocess start of the same script by the same interpreter, measured in the same run.

    .venv/bin/python bench/actor_start.py [--runs 200] [--warmup 10] [--memory-limit auto]
        [--sandbox off,on]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--redis-url redis://...]

The actor is a SOURCE_FILES process actor, `main.py`, whose first line records time.time() and prints
it; its build directory is made once, before anything is measured (a cached build). Runs go one at a
time (`POST /v2/acts/:id/runs?waitForFinish=60`, one worker). Per run, wall clocks of this machine:

  API request  the client's time.time() just before it sends the request;
  startedAt    the run's startedAt (the API stamps it when it writes the run row; 1 ms resolution);
  claim        RQ's started_at of the run's job: the worker took the job and calls execute_run, whose
               first act is the claim (READY -> RUNNING);
  spawn        when the worker built the actor's environment, right before it starts the process
               (ACTOR_TIMEOUT_AT minus the run's timeout; 1 ms resolution);
  actor        the actor's time.time() on its first line.

The baseline, interleaved with the runs: subprocess.Popen of the same main.py by the same interpreter
(stdout a pipe, a session of its own, as the worker starts actors), from just before Popen to the
child's first line (`Popen -> actor`) and to this process reading that line (`Popen -> line read`);
and once more with the preexec_fn the worker used before standbys (die with the parent), which
makes subprocess fork() the parent where it would otherwise vfork() it (this process is not the
worker: its size differs). Now the worker forks a standby between runs (worker/runners/standby.py)
and the run only execs in it.

Each --memory-limit and --sandbox pair gets its own Greenroom (an API and one worker,
GREENROOM_MEMORY_LIMIT and GREENROOM_SANDBOX) on the same database and build directory, one after the
other; the last lines give what the sandbox adds (on minus off, p50) per memory mode. The sandbox
needs root and bubblewrap (README, The sandbox). Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from redis import Redis
from rq.job import Job

if __package__ in (None, ""):  # run as `python bench/actor_start.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import add_database_url, add_redis_url, command_line, table_report
from bench.common import (
    Setup,
    api_client,
    create_actor,
    greenroom_settings,
    nearest_rank,
    setup,
    software,
    start_greenroom,
)
from server.settings import MEMORY_LIMIT_MODES, SANDBOX_MODES
from worker.runners.standby_child import die_with_parent
from worker.sandbox.memory import open_memory_limit

MARK = "actor-start"
# The actor, and the baseline's script: its first line is when the actor starts.
ACTOR_MAIN = f"""\
import time; STARTED = time.time()
import os
print("{MARK}", repr(STARTED), os.environ.get("ACTOR_TIMEOUT_AT") or "-", flush=True)
"""
REQUEST_TIMEOUT_S = 90


def _epoch(stamp: str | datetime) -> float:
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _actor_line(text: str) -> list[str]:
    """The actor's printed line (the log prefixes each line with the time it was read)."""
    for line in text.splitlines():
        words = line.split()
        if MARK in words:
            return words[words.index(MARK) + 1 :]
    raise RuntimeError(f"the actor's line is not in its output:\n{text}")


# ---------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Series:
    """One measured interval over many runs, in seconds."""

    name: str
    values: list[float]

    def ms(self, q: float) -> float:
        return 1000 * nearest_rank(self.values, q)


def bare_start(
    python: str, script: Path, preexec_fn: Callable[[], None] | None = None
) -> tuple[float, float]:
    """(Popen -> the child's first line, Popen -> that line read here), in seconds."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.environ.get("HOME", "/")}
    before = time.time()
    proc = subprocess.Popen(
        [python, str(script)],
        cwd=script.parent,
        env=env | {"PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=preexec_fn,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    read = time.time()
    proc.stdout.read()
    proc.wait()
    started = float(_actor_line(line)[0])
    return started - before, read - before


def _as_the_worker() -> Callable[[], None]:
    """What the worker ran in the actor's child before exec until standbys (but the memory cgroup):
    a preexec_fn makes subprocess fork() where it would otherwise vfork()."""
    parent = os.getpid()
    return lambda: die_with_parent(parent)


def greenroom_run(client: httpx.Client, connection: Redis, actor_id: str) -> dict[str, float]:
    """One run, from the API request to its end: the intervals to the actor's first line."""
    sent = time.time()
    # A timeout, so that the actor has ACTOR_TIMEOUT_AT (the spawn moment is read from it).
    params = {"waitForFinish": 60, "timeout": 3600}
    response = client.post(f"/acts/{actor_id}/runs", params=params, json={})
    answered = time.time()
    if response.status_code != 201:
        raise RuntimeError(f"starting a run answered {response.status_code}: {response.text[:300]}")
    run = response.json()["data"]
    while run["finishedAt"] is None:
        run = client.get(f"/actor-runs/{run['id']}", params={"waitForFinish": 60}).json()["data"]
    log = client.get(f"/actor-runs/{run['id']}/log").text
    if run["status"] != "SUCCEEDED":
        raise RuntimeError(f"run {run['id']} ended {run['status']}:\n{log}")
    started_text, timeout_at = _actor_line(log)[:2]
    started = float(started_text)
    job = Job.fetch(run["id"], connection=connection)
    assert job.started_at is not None
    return {
        "API request": started - sent,
        "startedAt": started - _epoch(run["startedAt"]),
        "claim": started - _epoch(job.started_at),
        "spawn": started - (_epoch(timeout_at) - run["options"]["timeoutSecs"]),
        "whole": answered - sent,
    }


@dataclass
class Phase:
    mode: str  # GREENROOM_MEMORY_LIMIT
    mechanism: str  # what it means on this host
    sandbox: str  # GREENROOM_SANDBOX
    runs: dict[str, Series]


def _mechanism(mode: str, tag: str) -> str:
    """What `mode` enforces memory with on this machine (the worker and this process share a cgroup)."""
    limit = open_memory_limit(mode, 128, f"{tag}-probe")
    try:
        return limit.mechanism
    finally:
        limit.close()


def create_built_actor(client: httpx.Client) -> str:
    """The actor, and its build finished: later runs find its directory made (a cached build)."""
    files = [{"name": "main.py", "format": "TEXT", "content": ACTOR_MAIN}]
    actor_id = create_actor(client, "actor-start", {"sourceType": "SOURCE_FILES", "sourceFiles": files})
    deadline = time.monotonic() + REQUEST_TIMEOUT_S
    while True:
        build = client.get(f"/acts/{actor_id}/builds/default", params={"waitForFinish": 30}).json()["data"]
        if build["status"] == "SUCCEEDED":
            return actor_id
        if build["finishedAt"] is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the actor's build ended {build['status']}")


def measure_phase(
    bench: Setup,
    mode: str,
    sandbox: str,
    args: argparse.Namespace,
    actor_id: str | None,
    bare: dict[str, Series],
) -> tuple[Phase, str]:
    settings = greenroom_settings(bench, memory_limit=mode, sandbox=sandbox)
    started = start_greenroom(bench, settings, workers=1)
    script = bench.tmp / "bare" / "main.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(ACTOR_MAIN)
    runs: dict[str, Series] = {}
    try:
        with api_client(settings.api_base_url, bench.token, timeout=REQUEST_TIMEOUT_S) as client:
            actor_id = actor_id or create_built_actor(client)
            print(
                f"measuring GREENROOM_MEMORY_LIMIT={mode} GREENROOM_SANDBOX={sandbox} ...",
                file=sys.stderr,
                flush=True,
            )
            for _ in range(args.warmup):
                greenroom_run(client, bench.connection, actor_id)
                bare_start(sys.executable, script)
            for _ in range(args.runs):
                for name, seconds in greenroom_run(client, bench.connection, actor_id).items():
                    runs.setdefault(name, Series(name, [])).values.append(seconds)
                # Interleaved, so that the two sides see the same load from the rest of the machine.
                to_actor, to_read = bare_start(sys.executable, script)
                bare["Popen"].values.append(to_actor)
                bare["read"].values.append(to_read)
                bare["preexec"].values.append(bare_start(sys.executable, script, _as_the_worker())[0])
    finally:
        bench.children.stop(started)
    return Phase(mode, _mechanism(mode, bench.tag), sandbox, runs), actor_id


# ---------------------------------------------------------------------------------------------
# Report

ROWS: list[tuple[str, str]] = [
    ("API request", "API request -> actor"),
    ("startedAt", "startedAt -> actor"),
    ("claim", "claim (RQ job start) -> actor"),
    ("spawn", "spawn (env built) -> actor"),
    ("whole", "API request -> run finished (response)"),
]


def report(header: list[tuple[str, str]], bare: dict[str, Series], phases: list[Phase]) -> str:
    base = bare["Popen"].ms(50)
    table: list[tuple[str, ...]] = []

    def row(label: str, series: Series) -> None:
        mean = 1000 * sum(series.values) / len(series.values)
        cells = (
            f"{series.ms(50):.1f}",
            f"{series.ms(99):.1f}",
            f"{mean:.1f}",
            f"{series.ms(50) - base:+.1f}",
        )
        table.append((label, str(len(series.values)), *cells))

    row("bare subprocess: Popen -> actor", bare["Popen"])
    row("bare subprocess: Popen -> line read", bare["read"])
    row("bare subprocess + the old worker's preexec_fn: Popen -> actor", bare["preexec"])
    for phase in phases:
        for key, label in ROWS:
            row(f"memory {phase.mode} ({phase.mechanism}), sandbox {phase.sandbox}: {label}", phase.runs[key])
    columns = ("interval", "n", "p50 ms", "p99 ms", "mean ms", "p50 - bare")
    out = table_report(header, columns, table)
    out.append(
        "p50 - bare = this row's p50 minus the bare Popen -> actor p50 (the same script, same Python)."
    )
    out.append("startedAt and spawn are stamped to the millisecond: those rows carry up to 1 ms of rounding.")
    by_mode = {(phase.mode, phase.sandbox): phase for phase in phases}
    for mode in dict.fromkeys(phase.mode for phase in phases):
        on, off = by_mode.get((mode, "on")), by_mode.get((mode, "off"))
        if on is not None and off is not None:
            added = [
                f"{key} {on.runs[key].ms(50) - off.runs[key].ms(50):+.1f} ms"
                for key in ("API request", "spawn")
            ]
            out.append(f"the sandbox adds, memory {mode}, p50 on - off: " + ", ".join(added))
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200, help="measured runs per memory-limit mode (200)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured runs before each mode (10)")
    parser.add_argument(
        "--memory-limit",
        default="auto",
        help=f"GREENROOM_MEMORY_LIMIT modes, comma-separated, of {', '.join(MEMORY_LIMIT_MODES)} (auto)",
    )
    parser.add_argument(
        "--sandbox",
        default="off,on",
        help=f"GREENROOM_SANDBOX modes, comma-separated, of {', '.join(SANDBOX_MODES)} (off,on)",
    )
    add_database_url(parser)
    add_redis_url(parser)
    args = parser.parse_args(argv)
    args.modes = [mode.strip() for mode in args.memory_limit.split(",") if mode.strip()]
    if not args.modes or any(mode not in MEMORY_LIMIT_MODES for mode in args.modes):
        parser.error(f"--memory-limit takes modes of {', '.join(MEMORY_LIMIT_MODES)}")
    args.sandboxes = [mode.strip() for mode in args.sandbox.split(",") if mode.strip()]
    if not args.sandboxes or any(mode not in SANDBOX_MODES for mode in args.sandboxes):
        parser.error(f"--sandbox takes modes of {', '.join(SANDBOX_MODES)}")
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line("bench/actor_start.py", argv)
    load_before = os.getloadavg()[0]
    bare = {name: Series(name, []) for name in ("Popen", "read", "preexec")}
    phases: list[Phase] = []
    with setup(args.redis_url, args.database_url) as bench:
        actor_id = None
        for mode in args.modes:
            for sandbox in args.sandboxes:
                phase, actor_id = measure_phase(bench, mode, sandbox, args, actor_id, bare)
                phases.append(phase)
    header = [
        ("command", command),
        ("database", bench.database_description),
        ("redis", f"{bench.redis.description} (prefix {bench.tag})"),
        ("actor", f"SOURCE_FILES main.py, cached build, by {sys.executable}; one run at a time, one worker"),
        ("runs", "POST /v2/acts/:id/runs?waitForFinish=60 over httpx keep-alive, loopback"),
        ("software", software()),
        ("load", f"1-min load average {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"),
    ]
    print(report(header, bare, phases), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
