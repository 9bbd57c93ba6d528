"""Test actors: PYTHON_CALLABLE targets (imported by the worker) and SOURCE_FILES scripts."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from worker.actor_api import ActorContext
from worker.runners.base import RunSpec


def noop(context: ActorContext) -> None:
    pass


def read_input(context: ActorContext) -> None:
    """One statement, first thing."""
    assert context.input is None or context.input is not None


def echo(context: ActorContext) -> None:
    """OUTPUT = {"input": INPUT}, plus one dataset item and a status message."""
    context.log.info("echo got %s", context.input)
    context.push_data({"seen": context.input})
    context.set_status_message("echoed")
    context.set_value("OUTPUT", {"input": context.input})


def status_then_sleep(context: ActorContext) -> None:
    """Says "warming up" in its status message, sleeps input.seconds (1.5), then writes OUTPUT."""
    context.set_status_message("warming up")
    time.sleep(float((context.input or {}).get("seconds", 1.5)))
    context.set_value("OUTPUT", {"done": True})


def text_output(context: ActorContext) -> None:
    context.set_value("OUTPUT", "plain words", content_type="text/plain; charset=utf-8")


def html_output(context: ActorContext) -> None:
    context.set_value("OUTPUT", "<p>hi</p>", content_type="text/html")


def fail(context: ActorContext) -> None:
    raise RuntimeError("this actor always fails")


def sleep(context: ActorContext) -> None:
    """Sleeps input.seconds, then writes OUTPUT."""
    seconds = float((context.input or {}).get("seconds", 1))
    time.sleep(seconds)
    context.set_value("OUTPUT", {"slept": seconds})


async def async_echo(context: ActorContext) -> None:
    context.set_value("OUTPUT", {"async": True, "input": context.input})


def own_group(context: ActorContext) -> None:
    """OUTPUT = its pid, its parent's, and its memory cgroup (v1's memory hierarchy, or v2's); with
    input.exit, it then exits (its process does not stay for another run)."""
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    groups = dict(line.split(":", 2)[1:] for line in lines)
    memory = [path for controllers, path in groups.items() if "memory" in controllers.split(",")]
    group = memory[0] if memory else groups.get("")
    context.set_value("OUTPUT", {"pid": os.getpid(), "ppid": os.getppid(), "group": group})
    if (context.input or {}).get("exit"):
        raise SystemExit(0)


def write_pid_then_sleep(context: ActorContext) -> None:
    """Writes its pid and a grandchild's pid to OUTPUT-less records, then sleeps forever."""
    child = os.fork()
    if child == 0:
        time.sleep(3600)
        os._exit(0)
    context.set_value("PIDS", {"actor": os.getpid(), "grandchild": child})
    time.sleep(3600)


# A stdlib-only process actor: reads INPUT over the API, PUTs OUTPUT, prints to stdout and stderr.
STDLIB_MAIN = """\
import json, os, sys, urllib.request

base = os.environ["APIFY_API_BASE_URL"]
store = os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
auth = {"Authorization": "Bearer " + os.environ["APIFY_TOKEN"]}
key = os.environ["ACTOR_INPUT_KEY"]
url = f"{base}/v2/key-value-stores/{store}/records/{key}"
with urllib.request.urlopen(urllib.request.Request(url, headers=auth)) as r:
    data = json.load(r)
print("got input", json.dumps(data, sort_keys=True))
print("to stderr", file=sys.stderr)
if data.get("exit"):
    sys.exit(int(data["exit"]))
env = {k: os.environ.get(k) for k in data.get("env", [])}
body = json.dumps({"input": data, "env": env}).encode()
req = urllib.request.Request(
    f"{base}/v2/key-value-stores/{store}/records/OUTPUT", data=body, method="PUT",
    headers={**auth, "Content-Type": "application/json; charset=utf-8"},
)
urllib.request.urlopen(req).close()
if data.get("sleep"):
    import time
    time.sleep(float(data["sleep"]))
"""


def callable_actor(name: str, target: str, **run_options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "versions": [
            {"versionNumber": "0.0", "sourceType": "PYTHON_CALLABLE", "callable": f"tests.actors:{target}"}
        ],
    }
    if run_options:
        body["defaultRunOptions"] = run_options
    return body


def run_spec(**changes: Any) -> RunSpec:
    """A claimed run as a runner gets it (alice's run of `hello`, one secret env var, no timeout),
    with `changes` to its fields."""
    spec = RunSpec(
        run_id="r" * 17,
        user_id="u" * 17,
        username="alice",
        act_id="a" * 17,
        actor_name="hello",
        actor_task_id=None,
        build_id="b" * 17,
        build_number="0.0.1",
        source={"envVars": [{"name": "SECRET", "value": "s3", "isSecret": True}]},
        options={"memoryMbytes": 256, "timeoutSecs": 0},
        default_key_value_store_id="k" * 17,
        default_dataset_id="d" * 17,
        default_request_queue_id="q" * 17,
        started_at="2026-11-28T10:00:00.000Z",
        token="apify_api_x",
    )
    return dataclasses.replace(spec, **changes)


def files_actor(name: str, files: dict[str, str], **version: Any) -> dict[str, Any]:
    source = [{"name": n, "format": "TEXT", "content": c} for n, c in files.items()]
    return {
        "name": name,
        "versions": [
            {"versionNumber": "0.0", "sourceType": "SOURCE_FILES", "sourceFiles": source, **version}
        ],
    }


def abort_hard(context: ActorContext) -> None:
    """Dies by SIGABRT, as a crashing C extension would."""
    os.abort()


def count_once(context: ActorContext) -> None:
    """One dataset item per execution: duplicate executions are visible."""
    context.push_data({"pid": os.getpid()})
    context.set_value("OUTPUT", {"ok": True})


def graceful_sleeper(context: ActorContext) -> None:
    """Sleeps until SIGTERM, then writes BYE and exits 0: shows a graceful abort's grace period."""
    import signal

    def on_term(signum: int, frame: object) -> None:
        context.set_value("BYE", {"signal": signum})
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    time.sleep(3600)


def log_then_wait_for_go(context: ActorContext) -> None:
    """Logs "first", waits (at most 30 s) for a GO record in its store, then logs "second" and ends.

    Lets a test see the log while the run is still going, and decide when it ends.
    """
    context.log.info("first")
    deadline = time.monotonic() + 30
    while context.get_value("GO") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    context.log.info("second \x1b[31mred\x1b[0m")
    context.push_data({"done": True})
    context.set_value("OUTPUT", {"went": True})


def push_items(context: ActorContext) -> None:
    """Pushes input.items (default: three numbered items) to the default dataset, in two batches."""
    items = (context.input or {}).get("items") or [{"n": i, "#secret": i} for i in range(3)]
    context.push_data(items[:1])
    context.push_data(items[1:])


def announce_then_wait_for_go(context: ActorContext) -> None:
    """Logs "first" and "waiting", waits (at most 30 s) for GO, then logs "second".

    The client's log redirection holds back the newest line until the next one starts, so the
    "waiting" line is what releases "first" to a logger while the run is still going.
    """
    context.log.info("first")
    context.log.info("waiting")
    deadline = time.monotonic() + 30
    while context.get_value("GO") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    context.log.info("second")
    context.set_value("OUTPUT", {"went": True})


def memory_hog(context: ActorContext) -> None:
    """Touches input.mb megabytes (default 1024) in 8 MB steps, then writes OUTPUT: under a lower
    memory limit it never gets there."""
    megabytes = int((context.input or {}).get("mb", 1024))
    chunks = []
    for step in range(0, megabytes, 8):
        chunks.append(b"\x01" * (8 << 20))
        if step % 64 == 0:
            print(f"holding {step + 8} MB", flush=True)
    context.set_value("OUTPUT", {"held_mb": len(chunks) * 8})


def cpu_burner(context: ActorContext) -> None:
    """Burns input.seconds (default 1.5) of CPU time while holding about 64 MB. CPU time, not wall
    time: on a busy machine the wall time it takes is longer, what it burns is the same."""
    held = b"\x01" * (64 << 20)
    deadline = time.process_time() + float((context.input or {}).get("seconds", 1.5))
    while time.process_time() < deadline:
        sum(range(10_000))
    context.set_value("OUTPUT", {"held": len(held)})


def fail_until(context: ActorContext) -> None:
    """Counts its attempts in ATTEMPTS and pushes one item each; fails until attempt input.succeed_on
    (default: never)."""
    attempt = int(context.get_value("ATTEMPTS") or 0) + 1
    context.set_value("ATTEMPTS", attempt)
    context.push_data({"attempt": attempt})
    if attempt < int((context.input or {}).get("succeed_on", 1_000_000)):
        raise RuntimeError(f"attempt {attempt} fails")
    context.set_value("OUTPUT", {"attempts": attempt})


def ignore_sigterm_and_sleep(context: ActorContext) -> None:
    """Ignores SIGTERM, so only SIGKILL ends it."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    time.sleep(3600)


def print_lines(context: ActorContext) -> None:
    """Prints input.lines numbered lines (default 100) and ends."""
    for n in range(int((context.input or {}).get("lines", 100))):
        print(f"line {n} of a chatty actor", flush=True)


def pids_then_sleep(context: ActorContext) -> None:
    """Writes PIDS (its own and its parent's, the worker supervising it), sleeps input.seconds, then
    writes OUTPUT. Lets a test kill the worker in the middle of a run."""
    context.set_value("PIDS", {"actor": os.getpid(), "worker": os.getppid()})
    time.sleep(float((context.input or {}).get("seconds", 30)))
    context.set_value("OUTPUT", {"survived": True})


def nap(context: ActorContext) -> None:
    """Sleeps input.seconds and ends (exit 0) without touching storage after reading its input: its
    end needs the database only for the worker's own terminal write."""
    time.sleep(float((context.input or {}).get("seconds", 1)))


def own_task_limits(context: ActorContext) -> None:
    """OUTPUT = the pids.max and CPU share of its cgroups (v1 hierarchies, or v2's one group)."""
    groups = dict(line.split(":", 2)[1:] for line in Path("/proc/self/cgroup").read_text().splitlines())
    found: dict[str, str] = {}
    for controller, files in (
        ("pids", ("pids.max",)),
        ("cpu", ("cpu.shares", "cpu.weight", "cpu.cfs_quota_us")),
    ):
        path = groups.get(controller) or groups.get("")
        for root in (f"/sys/fs/cgroup/{controller}", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
            for name in files:
                file = Path(root + (path or "")) / name
                if name not in found and file.is_file():
                    found[name] = file.read_text().strip()
    context.set_value("OUTPUT", found)


def print_sockets(context: ActorContext) -> None:
    """Prints the sockets its process holds open, one per line (as /proc names them)."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the listing's own descriptor
            continue
        if link.startswith("socket:"):
            print(link, flush=True)


# What runs of `remember` in this process were given (a process that stays keeps its module's state).
_remembered: list[str] = []


def remember(context: ActorContext) -> None:
    """Keeps input.secret in this process's memory; OUTPUT = what this process holds, and its pid."""
    secret = (context.input or {}).get("secret")
    if secret:
        _remembered.append(secret)
    context.log.info("remembering %s", secret)
    context.set_value("OUTPUT", {"pid": os.getpid(), "held": list(_remembered)})


def leave_behind(context: ActorContext) -> None:
    """Leaves input.what going after it returns: a child process, a daemon (a grandchild in a session
    of its own) or a thread sleeping an hour, or asks to exit (sys.exit(0)), or ("sleep") writes its
    pid to PID and sleeps an hour. OUTPUT = its pid and the child's (the daemon's), first."""
    import sys
    import threading

    what = (context.input or {}).get("what", "nothing")
    child = None
    if what == "sleep":  # stopped by its timeout, which the test sets
        context.set_value("PID", os.getpid())
        time.sleep(3600)
    if what == "process":
        child = os.fork()
        if child == 0:
            time.sleep(3600)
            os._exit(0)
    elif what == "daemon":  # a grandchild in a session of its own; its parent is waited for
        read, write = os.pipe()
        middle = os.fork()
        if middle == 0:
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                time.sleep(3600)
                os._exit(0)
            os.write(write, str(grandchild).encode())
            os._exit(0)
        os.waitpid(middle, 0)
        os.close(write)
        child = int(os.read(read, 32))
        os.close(read)
    elif what == "thread":
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    context.set_value("OUTPUT", {"pid": os.getpid(), "child": child})
    if what == "exit":
        sys.exit(0)
