"""The no-op work both sides of the benchmark run, so only the machinery around it is measured."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the bare-RQ worker imports this module too, and must not pay for worker/ imports
    from worker.actor_api import ActorContext

# Dotted paths, as the server and the baseline enqueue them (neither side imports this module).
NOOP_CALLABLE = "bench.noop:noop"
NOOP_JOB = "bench.noop.noop_job"


def noop(context: ActorContext) -> None:
    """A PYTHON_CALLABLE actor that does nothing."""


def noop_job() -> None:
    """A bare RQ job that does nothing."""
