"""What rendering a run's JSON answer costs the API: the way it is done against the way it was.

    .venv/bin/python bench/render.py [--renders 20000]

The body of `GET /v2/actor-runs/:id` (server/shapes.py run_json, server/responses.py json_bytes)
made from a finished run --renders times, as now (orjson, and `iso` by datetime.isoformat) and as
before session 21 (json.dumps, and `iso` by strftime, kept here as the baseline), alternating in
five rounds: CPU per render, the median of the rounds. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/render.py`: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cli import command_line, table_report
from bench.common import software
from server import shapes
from server.responses import json_bytes
from server.storage.ids import aware, iso
from server.storage.models import Run


def _old_iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    dt = aware(dt)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _old_json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _finished_run() -> Run:
    started = datetime(2026, 12, 7, 4, 40, 52, 564_000)  # naive, as SQLite hands it back
    stats = {"durationMillis": 2567, "runTimeSecs": 2.567, "memAvgBytes": 70_000_000.5}
    stats |= {"memMaxBytes": 71_000_000, "memCurrentBytes": 0, "cpuAvgUsage": 13.481, "cpuMaxUsage": 90.2}
    stats |= {"cpuCurrentUsage": 0, "computeUnits": 0.000356, "inputBodyLen": 2}
    return Run(
        id="IRbjybFUH6QBQ9tkr",
        user_id="2176HRPrkYMTVXRjN",
        act_id="Y8NHRnLqKlzAXYDO8",
        actor_task_id="5LalIm8fGD9iWDyN0",
        build_id="npbus1krKxlDmTVuu",
        build_number="0.0.1",
        status="SUCCEEDED",
        origin="API",
        client_ip="127.0.0.1",
        user_agent="ApifyClient/2.0.0 (linux; Python/3.11.7); isAtHome/false",
        options={"build": "latest", "timeoutSecs": 3600, "memoryMbytes": 1024, "diskMbytes": 2048},
        stats=stats,
        exit_code=0,
        default_key_value_store_id="aaaaaaaaaaaaaaaaa",
        default_dataset_id="bbbbbbbbbbbbbbbbb",
        default_request_queue_id="ccccccccccccccccc",
        started_at=started,
        finished_at=started + timedelta(seconds=2.567),
        metamorphs=[],
        reboot_count=0,
    )


def _cpu_us_per(render: Callable[[], bytes], renders: int) -> float:
    start = time.process_time()
    for _ in range(renders):
        render()
    return (time.process_time() - start) / renders * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--renders", type=int, default=20_000)
    args = parser.parse_args(argv)
    run = _finished_run()

    def now() -> bytes:
        return json_bytes({"data": shapes.run_json(run)})

    def before() -> bytes:
        shapes.iso = _old_iso  # type: ignore[assignment]  # run_json calls the module's name
        try:
            return _old_json_bytes({"data": shapes.run_json(run)})
        finally:
            shapes.iso = iso

    assert json.loads(now()) == json.loads(before())
    figures: dict[str, list[float]] = {"before": [], "now": []}
    for _ in range(5):
        figures["before"].append(_cpu_us_per(before, args.renders))
        figures["now"].append(_cpu_us_per(now, args.renders))
    old, new = statistics.median(figures["before"]), statistics.median(figures["now"])
    rows = [("a run's JSON answer (us of CPU)", f"{old:.1f}", f"{new:.1f}", f"{new / old:.2f}")]
    header = [("command", command_line("bench/render.py", argv)), ("software", software())]
    print("\n".join(table_report(header, ("what", "before", "now", "ratio"), rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
