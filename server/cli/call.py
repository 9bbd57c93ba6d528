"""`greenroom call TASK_OR_ACTOR`: start a run over the API, wait for it, print what it made.

The output is the run's OUTPUT record if it wrote one, else its default dataset's items (JSON).
Exit code 0 only if the run SUCCEEDED; otherwise its status and the end of its log go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from server.cli.api import TERMINAL, Api, CliError, add_api_options, resolve_api
from server.cli.progress import Progress
from server.settings import Settings

LOG_TAIL_LINES = 20


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "call",
        help="run a task or an actor, wait, print its OUTPUT or dataset items",
        description="Start a run of a task (tried first) or an actor, named by id, `username~name` or "
        "`name` (the token's user's), wait for it, and print its OUTPUT record, else its default "
        "dataset's items. Exit code 1 when the run does not succeed.",
    )
    p.add_argument("target", metavar="TASK_OR_ACTOR", help="a task or an actor: id, username~name or name")
    p.add_argument("--input", metavar="FILE", help="the run's input, a JSON file; `-` reads it from stdin")
    p.add_argument("--timeout", type=int, help="the run's timeout in seconds (default: the actor's)")
    p.add_argument("--memory", type=int, help="the run's memory in MB, a power of 2 (default: the actor's)")
    p.add_argument("--build", help="the build tag or number to run (default: the actor's)")
    add_api_options(p)
    p.set_defaults(handler=_command)


def _read_input(source: str | None) -> Any:
    if source is None:
        return None
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f"the input ({source}) is not JSON: {exc}") from None


def _start(api: Api, target: str, body: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The task's run if a task is so named, else the actor's. A plain word may be an id or a name of
    the token's user (`~name`): both are tried."""
    names = [target] if "~" in target else [target, f"~{target}"]
    for kind in ("actor-tasks", "acts"):
        for name in names:
            path = f"/{kind}/{urllib.parse.quote(name)}"
            try:
                api.call("GET", path)
            except CliError as exc:
                if "not-found" in str(exc):
                    continue
                raise
            run: dict[str, Any] = api.call("POST", f"{path}/runs", params, body={} if body is None else body)
            return run
    raise CliError(f"no task or actor named {target!r}")


def call(api: Api, target: str, body: Any, params: dict[str, Any]) -> int:
    run = _start(api, target, body, params)
    progress = Progress(f"Run {run['id']}")
    while run["status"] not in TERMINAL:
        progress.update(run["status"])
        run = api.call("GET", f"/actor-runs/{run['id']}", {"waitForFinish": 5})
    progress.update(run["status"])
    progress.done()
    if run["status"] != "SUCCEEDED":
        log = str(api.call("GET", f"/actor-runs/{run['id']}/log"))
        for line in log.rstrip("\n").split("\n")[-LOG_TAIL_LINES:]:
            print(line, file=sys.stderr)
        message = f": {run['statusMessage']}" if run.get("statusMessage") else ""
        print(f"Run {run['id']}: {run['status']}{message}", file=sys.stderr)
        return 1
    try:
        output, _ = api.request("GET", f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT")
    except CliError as exc:
        if "not-found" not in str(exc):
            raise
        output, _ = api.request(
            "GET", f"/datasets/{run['defaultDatasetId']}/items", {"format": "json", "clean": 1}
        )
    sys.stdout.buffer.write(output if output.endswith(b"\n") else output + b"\n")
    sys.stdout.buffer.flush()
    return 0


def _command(settings: Settings, args: argparse.Namespace) -> int:
    params = {
        key: value
        for key, value in (("timeout", args.timeout), ("memory", args.memory), ("build", args.build))
        if value is not None
    }
    try:
        return call(resolve_api(settings, args), args.target, _read_input(args.input), params)
    except (CliError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if "no API token" in str(exc) else 1
