"""Apify's systemInfo event data, from the run's Meter (which the supervisor samples)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from server.storage.ids import iso, utcnow
from worker.meter import Meter

# Returns the data of one systemInfo event, or None while there is nothing measured to send.
SystemInfo = Callable[[], dict[str, Any] | None]


def available_cpus() -> int:
    """The cores this process (and so the actor) may run on: APIFY_DEDICATED_CPUS."""
    return len(os.sched_getaffinity(0))


def system_info(meter: Meter, memory_mbytes: int, cpus: int | None = None) -> SystemInfo:
    cores = cpus or available_cpus()

    def data() -> dict[str, Any] | None:
        if meter.memory_current == 0:  # not sampled yet (or between two attempts)
            return None
        stats = meter.stats()
        cpu = float(stats["cpuCurrentUsage"])  # percent of one core, as Apify counts it
        return {
            "memAvgBytes": stats["memAvgBytes"],
            "memCurrentBytes": stats["memCurrentBytes"],
            # The SDK reads memMaxBytes as the memory the actor may use (crawlee's total_size), so
            # it is the run's memory, as on Apify, not the peak so far (that is in the run's stats).
            "memMaxBytes": memory_mbytes * 1024 * 1024,
            "cpuAvgUsage": stats["cpuAvgUsage"],
            "cpuMaxUsage": stats["cpuMaxUsage"],
            "cpuCurrentUsage": cpu,
            # crawlee's default limit: 95 % of the cores the actor has.
            "isCpuOverloaded": cpu >= 95 * cores,
            "createdAt": iso(utcnow()),
        }

    return data
