"""What a standby's child runs (worker/runners/standby.py): enter its groups, wait for the order,
then exec the program or call the callable.

Only the standard library at import: a fresh zygote (worker/runners/zygote.py) imports this module
and little else, so that a process actor's standby is forked from a small process. A fork copies the
page tables of the parent's memory and the child's exit or exec frees them again, at a cost that
grows with that memory (worker/runners/zygote.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

_PR_SET_PDEATHSIG = 1
EXIT_CALLABLE_RAISED = 91  # the Apify SDK's exit code for "the user function threw"
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Exec:
    """A process actor's order: exec argv (looked up on env's PATH) in cwd, with exactly env;
    `sandboxed`: argv starts the actor in its sandbox (worker/sandbox/)."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    sandboxed: bool = False


def die_with_parent(parent_pid: int) -> None:
    """In the actor's child, before exec: SIGKILL it when the worker supervising it dies (a killed
    worker must not leave its actor running; the sweeper then fails or restarts the run)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the worker died before the line above
        os._exit(1)


def serve(
    joins: list[bytes],
    worker_pid: int,
    orders: int,
    status: int,
    output: int,
    call: Callable[[Any], int] | None = None,
) -> NoReturn:
    """The child: enter the groups (their cgroup.procs files), wait for the order, then exec the
    program, or `call` the callable (None: a program's standby, which has no callable to call)."""
    code = 1
    try:
        os.setsid()  # first: until then, a kill of the group misses it (kill_group falls back to the pid)
        die_with_parent(worker_pid)
        for procs in joins:  # os-level calls only: another thread of the worker may hold a lock
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"%d" % os.getpid())
            finally:
                os.close(fd)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        with os.fdopen(orders, "rb") as pipe:
            data = pipe.read()
        if not data:  # closed unused: the worker is stopping, or made another
            os._exit(0)
        order = pickle.loads(data)
        if isinstance(order, Exec):
            _exec(order, status)
        os.close(status)
        # print() and logging go to the log even if the worker had replaced sys.stdout/stderr (a
        # test runner's capture, a log redirect): they write to fds 1 and 2 from now on.
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        if call is None:
            raise RuntimeError(f"a callable sent to a program's standby (pid {os.getpid()})")
        code = call(order)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = EXIT_CALLABLE_RAISED
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _exec(order: Exec, status: int) -> NoReturn:
    """As subprocess does it: only fds 0-2 cross the exec; a failure goes back over `status`."""
    try:
        os.chdir(order.cwd)
        os.closerange(3, status)
        os.closerange(status + 1, os.sysconf("SC_OPEN_MAX"))
        os.execvpe(order.argv[0], order.argv, order.env)
    except OSError as exc:  # named by the program, as subprocess does (not by the last PATH entry tried)
        error = OSError(exc.errno, exc.strerror, order.argv[0])
        with contextlib.suppress(OSError):
            os.write(status, pickle.dumps(error))
    os._exit(127)  # as a shell answers a command it cannot run
