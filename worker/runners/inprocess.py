"""PYTHON_CALLABLE actors: `package.module:function(context)`, run in a forked child.

The fork gives a callable what a process actor has: its own process group (a timeout kills it),
captured output, and a crash that cannot take the worker down.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

from server.storage.fork_gate import FORK_GATE
from worker.actor_api import ActorContext
from worker.context import after_fork, get_context
from worker.runners.base import RunSpec
from worker.supervisor import Child

EXIT_CALLABLE_RAISED = 91  # the Apify SDK's exit code for "the user function threw"


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _child_main(spec: RunSpec, function: Any) -> int:
    after_fork()
    context = ActorContext(spec, get_context().db)
    result = function(context)
    if inspect.iscoroutine(result):
        asyncio.run(result)
    return 0


def spawn_callable(spec: RunSpec, join: Callable[[], None] | None = None) -> Child:
    """`join` runs first thing in the forked child (it puts the child in its memory cgroup)."""
    # Imported in the worker, so an import error fails the run before any fork, and the next run
    # of the same callable finds the module already loaded.
    function = _load(spec.source["callable"])
    read_fd, write_fd = os.pipe()
    # Everything alive now moves to the permanent generation: the child's collections then skip the
    # whole inherited heap (and leave its pages shared).
    gc.freeze()
    with FORK_GATE.forking():  # the child's first statement would hang on a lock held now
        pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.setsid()  # first: until then, a kill of the group misses it (kill_group falls back to the pid)
            if join is not None:
                join()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
                signal.signal(sig, signal.SIG_DFL)
            os.close(read_fd)
            os.dup2(write_fd, 1)
            os.dup2(write_fd, 2)
            os.close(write_fd)
            # print() and logging go to the log even if the worker had replaced sys.stdout/stderr
            # (a test runner's capture, a log redirect): they write to fds 1 and 2 from now on.
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            code = _child_main(spec, function)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = EXIT_CALLABLE_RAISED
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(write_fd)
    return Child(pid=pid, output=os.fdopen(read_fd, "rb"))
