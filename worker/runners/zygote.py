"""The zygote: a copy of the worker, forked at its start, that forks the worker's standbys for it.

A fork shares every page of the parent with the child until one of them writes to it; the kernel
then copies the page (a copy-on-write fault, about 2.6 us here against 0.03 for a plain write:
bench/fork_cost.py). A worker forked each run's actor process from itself (worker/runners/standby.py)
and went on working while it lived, and Python writes to every object it touches (reference counts):
the worker's pages were copied anew after every fork, about 2,200 faults a run (bench/cost.py; 100
with the zygote). The zygote only waits, so a standby forked from it shares pages nobody writes but
the standby.

A process actor's standby only execs its program, and a fork's cost, and the exec's or the exit's
after it, grow with the parent's memory (the kernel copies its page tables, then frees them): a
standby given /bin/true took 11.4 ms of CPU when a copy of the worker (about 57 MB of its own) forked
it, 5.8 ms when a fresh interpreter did (bench/fork_cost.py, 2026-12-07). So there are two kinds: a
*fresh* zygote, a new interpreter (`-I -S`) that imports only worker/runners/standby_child.py and
this module, forks process actors' standbys; a *forked* one, a copy of the worker, forks callables'
standbys, which need the worker's imports (the callable's module, the storage it writes to).

The standby is still the worker's child: the zygote clones it with CLONE_PARENT. The worker waits for
it and reads its usage (wait4), and it dies with the worker (PR_SET_PDEATHSIG), as before. The zygote
dies with the worker too, and ends when the worker closes its socket. One that is gone (killed) is
replaced; until then the worker forks its standbys itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import logging
import os
import pickle
import signal
import socket
import sys
from collections.abc import Callable
from typing import NoReturn

from server.storage.fork_gate import FORK_GATE
from worker.runners.standby_child import die_with_parent, serve

log = logging.getLogger(__name__)

# What the standby's child runs, given the zygote's request and its three pipe ends.
Serve = Callable[[list[bytes], int, int, int, int], NoReturn]

_CLONE_PARENT = 0x00008000
_SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(os.uname().machine)
_python = ctypes.pythonapi
_libc = ctypes.PyDLL(None, use_errno=True)  # keeps the GIL across the call, as os.fork does
_MESSAGE_BYTES = 1 << 16


class ZygoteGone(OSError):
    """The zygote did not answer (it was killed): the worker forks the standby itself."""


def available() -> bool:
    """Whether this machine's clone(2) is known here (x86_64, aarch64)."""
    return _SYS_CLONE is not None


class Zygote:
    """The worker's end of its zygote. Make it in the worker's main thread, early: the standbys die
    with the thread that made the zygote (PR_SET_PDEATHSIG follows the parent thread), and the
    zygote keeps the descriptors the worker has open when it is made."""

    def __init__(self, serve: Serve | None) -> None:
        """`serve`: what the standbys run, in a copy of this worker (forked); None: a fresh zygote,
        whose standbys run standby_child.serve."""
        if _SYS_CLONE is None:
            raise OSError(f"no zygote on {os.uname().machine}")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        worker_pid = os.getpid()
        try:
            if serve is None:
                pid = _spawn_fresh(theirs.fileno(), worker_pid)
            else:
                # The heap as it is now moves to the permanent generation: the worker's collections
                # and the zygote's (and its standbys') skip it, as a standby forked from the worker
                # had it done.
                gc.freeze()
                with FORK_GATE.forking():
                    pid = os.fork()
                if pid == 0:
                    ours.close()
                    _zygote(theirs, worker_pid, serve)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.pid = pid
        self._socket = ours
        self._imported: set[str] = set()

    def fork(self, joins: list[bytes], fds: tuple[int, int, int]) -> int:
        """A standby's pid: a child of this worker, forked from the zygote, running serve(joins,
        worker's pid, *fds). The fds stay open here (the caller closes its copies)."""
        reply = self._ask(("fork", joins), fds)
        if isinstance(reply, OSError):
            raise reply
        assert isinstance(reply, int)
        return reply

    def preload(self, module: str) -> None:
        """Import `module` in the zygote, so that the standbys forked from now on have it (a callable's
        module: the worker imported it for the run; each child would import it again). Not waited
        for: the zygote imports it while the run goes on."""
        if module not in self._imported:
            self._imported.add(module)
            self._send(("import", module), ())

    def _ask(self, request: tuple[str, object], fds: tuple[int, ...]) -> object:
        self._send(request, fds)
        try:
            reply = self._socket.recv(_MESSAGE_BYTES)
        except OSError as exc:
            raise ZygoteGone(f"the zygote (pid {self.pid}) is gone: {exc}") from exc
        if not reply:
            raise ZygoteGone(f"the zygote (pid {self.pid}) is gone")
        return pickle.loads(reply)

    def _send(self, request: tuple[str, object], fds: tuple[int, ...]) -> None:
        try:
            socket.send_fds(self._socket, [pickle.dumps(request)], list(fds))
        except OSError as exc:
            raise ZygoteGone(f"the zygote (pid {self.pid}) is gone: {exc}") from exc

    def close(self) -> None:
        """The zygote ends once its socket closes (killed if it does not)."""
        self._socket.close()
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)


def _spawn_fresh(fd: int, worker_pid: int) -> int:
    """A new interpreter (posix_spawn: no copy of this process's page tables) running fresh_main on
    the socket `fd`: isolated (`-I`) and without site (`-S`), so it imports only what it names."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds worker/
    code = (
        f"import sys; sys.path.insert(0, {root!r}); "
        f"from worker.runners.zygote import fresh_main; fresh_main({fd}, {worker_pid})"
    )
    os.set_inheritable(fd, True)  # the one descriptor it gets beyond 0-2 and the ones a library left open
    return os.posix_spawn(sys.executable, [sys.executable, "-I", "-S", "-c", code], os.environ)


def fresh_main(fd: int, worker_pid: int) -> NoReturn:
    """A fresh zygote's life (started by _spawn_fresh)."""
    os.set_inheritable(fd, False)
    requests = socket.socket(fileno=fd)
    gc.freeze()
    _zygote(requests, worker_pid, serve)


def _zygote(requests: socket.socket, worker_pid: int, serve: Serve) -> NoReturn:
    """The zygote's life: fork a standby, or import a module, per request, until the worker goes."""
    try:
        die_with_parent(worker_pid)
        # A stop is the worker's to handle: the zygote ends with its socket. (Its standbys set these
        # back to the defaults.)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            message, fds, _flags, _address = socket.recv_fds(requests, _MESSAGE_BYTES, 3)
            if not message:
                break
            # Close-on-exec, as the worker's own pipes are (SCM_RIGHTS gives inheritable ones, and
            # recv_fds drops its flags argument): a standby's status pipe must reach EOF once its
            # program is exec'd, which the worker waits for.
            for fd in fds:
                os.set_inheritable(fd, False)
            kind, detail = pickle.loads(message)
            if kind == "import":  # answered by nothing: the worker does not wait
                with contextlib.suppress(BaseException):  # the worker's own import reports the error
                    importlib.import_module(detail)
                    gc.freeze()
                continue
            reply: int | OSError
            try:
                reply = _clone_sibling()
            except OSError as exc:
                reply = exc
            if reply == 0:
                requests.close()
                serve(detail, worker_pid, *fds)
            for fd in fds:
                os.close(fd)
            requests.send(pickle.dumps(reply))
    finally:
        os._exit(0)


def _clone_sibling() -> int:
    """fork(), except that the child is this process's parent's: os.fork's steps around clone(2).
    The C library's own fork handlers (pthread_atfork) do not run: they keep locks that other threads
    hold consistent across the fork, and the zygote has no other thread."""
    _python.PyOS_BeforeFork()
    pid = _libc.syscall(_SYS_CLONE, _CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        _python.PyOS_AfterFork_Child()
        return 0
    _python.PyOS_AfterFork_Parent()
    if pid < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return int(pid)
