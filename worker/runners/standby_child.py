"""What a standby's child runs (worker/runners/standby.py): enter its groups, wait for the order,
then exec the program or call the callable. A callable's process may then stay for the next run of
the same user's same callable (worker/runners/standby.py, Standbys): it reports its run's end on the
orders socket and waits for the next order, which brings that run's output pipe.

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
import resource
import signal
import socket
import struct
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

_PR_SET_PDEATHSIG = 1
EXIT_CALLABLE_RAISED = 91  # the Apify SDK's exit code for "the user function threw"
_libc = ctypes.CDLL(None, use_errno=True)
_LENGTH = struct.Struct("!I")
# A run's end, as a process that stays reports it: its exit code, the CPU seconds it used and its
# peak resident set in bytes (VmHWM, reset for each run).
ENDED = struct.Struct("!idq")


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
    program, or `call` the callable (None: a program's standby, which has no callable to call).
    `orders`: a socket (send_order); a callable's process told it may stay serves orders until the
    worker closes it or one says it is the last."""
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
        _quiet()
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        channel = socket.socket(fileno=orders)
        received = read_order(channel)
        if received is None:  # closed unused: the worker is stopping, or made another
            os._exit(0)
        (order, stay), fds = received
        if isinstance(order, Exec):
            if fds:  # a premade sandbox's order pipe (worker/sandbox/views.py): its stdin
                os.dup2(fds[0], 0)
                os.close(fds[0])
            _exec(order, status)
        os.close(status)
        # print() and logging go to the log even if the worker had replaced sys.stdout/stderr (a
        # test runner's capture, a log redirect): they write to fds 1 and 2 from now on.
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        if call is None:
            raise RuntimeError(f"a callable sent to a program's standby (pid {os.getpid()})")
        while True:
            if stay:
                _reset_peak_rss()
            used = _cpu_s()
            code, whole = _called(call, order)
            if not (stay and whole and _alone()):
                break
            _flush()
            _quiet()  # the run's output pipe reaches EOF: its log is whole
            channel.sendall(ENDED.pack(code, _cpu_s() - used, _peak_rss()))
            received = read_order(channel)
            if received is None:
                code = 0
                break
            (order, stay), fds = received
            os.dup2(fds[0], 1)
            os.dup2(fds[0], 2)
            os.close(fds[0])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = EXIT_CALLABLE_RAISED
    finally:
        _flush()
        os._exit(code)


def _called(call: Callable[[Any], int], order: Any) -> tuple[int, bool]:
    """The callable's exit code, and whether the process is whole for another run: not after it asked
    to exit (SystemExit) or was interrupted, which end the process as before."""
    try:
        return call(order), True
    except Exception:
        traceback.print_exc()
        return EXIT_CALLABLE_RAISED, True


def _alone() -> bool:
    """No thread but this one and no child process left: nothing of this run goes on into the next
    (the worker checks the groups too: a process that left this one's children is still in them)."""
    if len(os.listdir("/proc/self/task")) != 1:
        return False
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)  # an ended child is reaped; one running stays
        except ChildProcessError:
            return True
        if pid == 0:
            return False


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss() -> int:
    """This process's peak resident set since its run began (VmHWM), in bytes; 0 if unknown."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak_rss() -> None:
    """The peak resident set starts over at what the process holds now (proc(5): clear_refs 5)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "wb", buffering=0) as refs:
        refs.write(b"5")


def _quiet() -> None:
    """/dev/null on fds 0-2 (0 for good; 1 and 2 until the next run's output)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _flush() -> None:
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()


def send_order(channel: socket.socket, order: object, stay: bool, fds: list[int]) -> None:
    """Hand a standby its order: (order, stay), length-prefixed, with `fds` (a later run's output
    pipe) on its first byte."""
    payload = pickle.dumps((order, stay))
    socket.send_fds(channel, [_LENGTH.pack(len(payload))], fds)
    channel.sendall(payload)


def read_order(channel: socket.socket) -> tuple[tuple[Any, bool], list[int]] | None:
    """The next order and the fds it brought; None once the worker closed its end."""
    header, fds, _flags, _address = socket.recv_fds(channel, _LENGTH.size, 1)
    if not header:
        return None
    for fd in fds:  # SCM_RIGHTS gives inheritable ones
        os.set_inheritable(fd, False)
    header += _exactly(channel, _LENGTH.size - len(header))
    (length,) = _LENGTH.unpack(header)
    return pickle.loads(_exactly(channel, length)), fds


def _exactly(channel: socket.socket, count: int) -> bytes:
    chunks = []
    while count > 0:
        chunk = channel.recv(min(count, 1 << 20))
        if not chunk:
            raise EOFError("the worker closed the orders socket in the middle of an order")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


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
