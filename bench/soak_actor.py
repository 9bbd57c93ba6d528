"""The soak's actor (bench/soak.py): imported by the workers only, by dotted path."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.actor_api import ActorContext

SOAK_CALLABLE = "bench.soak_actor:work"


def work(context: ActorContext) -> None:
    """One dataset item per execution, naming the actor's and the worker's pids (so a run executed
    twice shows, and a killed worker's runs are known), a nap of input.seconds, then OUTPUT =
    {"n": input.n}: a SUCCEEDED run without it, or with another n, is in a wrong state."""
    context.push_data({"pid": os.getpid(), "worker": os.getppid()})
    time.sleep(float(context.input["seconds"]))
    context.set_value("OUTPUT", {"n": context.input["n"]})
