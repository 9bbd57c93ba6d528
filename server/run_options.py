"""Run options as a start asks for them, shared by the API (which parses them) and the services
(which apply them), so that `services/` never imports `api/`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.errors import InvalidInput
from server.settings import Settings

# restartOnError: at most this many restarts of a run (Apify's ACTOR_RESTART_ON_ERROR: 3 in 60 s),
# counted by the worker that restarts a failed actor and by the sweeper that restarts a dead
# worker's run.
MAX_RESTARTS = 3


def check_memory(value: int, settings: Settings) -> int:
    low, high = settings.min_memory_mbytes, settings.max_memory_mbytes
    if value < low or value > high or value & (value - 1):
        raise InvalidInput(f"Memory must be a power of 2 between {low} and {high} megabytes, got {value}.")
    return value


# The largest whole number a parameter or option may hold (JavaScript's Number.MAX_SAFE_INTEGER, as
# Apify's Node API reads them): above it, offsets, limits and maxItems overflowed the databases'
# 64-bit integers (a 500).
MAX_SAFE_INTEGER = 2**53 - 1


def check_timeout(value: int, settings: Settings, what: str) -> int:
    """A run's timeout in seconds (0: none); above max_run_timeout_s the worker's timer overflowed."""
    if value < 0 or value > settings.max_run_timeout_s:
        raise InvalidInput(
            f"{what} must be a whole number of seconds between 0 and {settings.max_run_timeout_s}."
        )
    return value


@dataclass(frozen=True)
class RunOverrides:
    """What the caller asked for on one run start; None means "use the task's, then the actor's"."""

    timeout_s: int | None = None
    memory_mbytes: int | None = None
    build: str | None = None
    max_items: int | None = None
    max_total_charge_usd: float | None = None
    restart_on_error: bool | None = None
    webhooks: list[dict[str, Any]] | None = None
