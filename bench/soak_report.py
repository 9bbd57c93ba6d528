"""The soak's report (bench/soak.py): what was sent and answered, the faults, the runs in a wrong
state, how fast dead workers were detected, and the memory per held request."""

from __future__ import annotations

import argparse

from bench.common import nearest_rank
from bench.soak_state import Soak


def report(soak: Soak, args: argparse.Namespace, elapsed: float, wrong: dict[str, list[str]]) -> list[str]:
    statuses: dict[str, int] = {}
    for answer in soak.answers:
        key = str(answer.status) if answer.status is not None else "lost"
        statuses[key] = statuses.get(key, 0) + 1
    lost = [a for a in soak.answers if a.status is None]
    detect, settings = soak.detect_s, soak.settings
    lines = [
        f"sent:        {len(soak.answers)} run-syncs in {elapsed:.0f} s ({args.clients} clients, "
        f"{args.workers} workers)",
        f"answered:    {len(soak.answers) - len(lost)} {dict(sorted(statuses.items()))}",
        f"lost:        {len(lost)}" + (f" (first: {lost[0].error})" if lost else ""),
        "faults:      " + (", ".join(f"{k} x{v}" for k, v in sorted(soak.faults.items())) or "none"),
        f"wrong state: {sum(len(v) for v in wrong.values())} runs",
        *(f"  {k}: {v[:5]}" for k, v in wrong.items()),
    ]
    if detect:
        lines.append(
            f"dead worker: {len(detect)} runs of killed workers FAILED, detected in p50 "
            f"{nearest_rank(detect, 50):.1f} s, p99 {nearest_rank(detect, 99):.1f} s (lease "
            f"{settings.run_lease_s:g} s, sweep every {settings.sweep_interval_s:g} s)"
        )
    else:
        lines.append("dead worker: no kill hit a running run")
    return lines


def held_line(count: int, per_kb: float, spread_s: float) -> str:
    return (
        f"held:        {count} waitForFinish on one run: {per_kb:.1f} KB per held request; "
        f"answered within {spread_s:.2f} s of each other when it ended"
    )
