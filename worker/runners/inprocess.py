"""PYTHON_CALLABLE actors: `package.module:function(context)`, called in a forked child.

The fork (a standby, worker/runners/standby.py) gives a callable what a process actor has: its own
process group (a timeout kills it), captured output, and a crash that cannot take the worker down.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from typing import Any

from server.storage.db import SyncDatabase
from worker.actor_api import ActorContext
from worker.context import after_fork, get_context
from worker.runners.base import RunSpec


def load_callable(spec: RunSpec) -> Any:
    """The function a PYTHON_CALLABLE version names. The worker loads it before handing the run to its
    child, so an import error fails the run before the actor starts, and later children find the
    module already imported."""
    module_name, _, attr = spec.source["callable"].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def call_in_child(spec: RunSpec) -> int:
    """In the forked child: call the function with its context; the exit code."""
    context = ActorContext(spec, _child_database)
    result = load_callable(spec)(context)
    if inspect.iscoroutine(result):
        asyncio.run(result)
    return 0


def _child_database() -> SyncDatabase:
    """The worker's database, this child's from now on (after_fork: the parent's pooled connections
    are dropped, not shared). Called at the callable's first storage call: dropping them touches
    enough of the inherited heap (each page touched is copied) to cost a no-op callable's child 1.5
    of its 4.3 ms of CPU (bench/fork_cost.py)."""
    after_fork()
    return get_context().db
