"""The zygote forks the worker's standbys (worker/runners/zygote.py): they are the worker's children,
they share no page the worker writes, and a zygote that is killed is replaced."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.settings import Settings
from tests.actors import run_spec
from tests.stack import as_worker
from worker.runners.standby import Kind, Order, Standby, Standbys, serve_callables
from worker.runners.standby_child import Exec
from worker.runners.zygote import Zygote, available

pytestmark = pytest.mark.skipif(not available(), reason="no zygote on this machine's architecture")

PAGES = 2000
PAGE = os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def worker_settings(settings: Settings) -> Iterator[Settings]:
    """This process as a worker whose standbys need no cgroup or sandbox."""
    with as_worker(
        Settings(memory_limit="off", sandbox="off", callable_modules=("tests.actors",)), settings
    ) as plain:
        yield plain


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _sockets(pid: int) -> set[str]:
    """The sockets a process holds open (their inodes, as /proc/<pid>/fd names them)."""
    links = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # the listing's own descriptor, closed by now
            links.add(os.readlink(fd))
    return {link for link in links if link.startswith("socket:")}


def _zygote_ends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The zygotes' ends of the socket pairs made from now on, as /proc names them."""
    made: list[str] = []
    real_socketpair = socket.socketpair

    def socketpair(*args: Any) -> tuple[socket.socket, socket.socket]:
        ours, theirs = real_socketpair(*args)
        made.append(f"socket:[{os.fstat(theirs.fileno()).st_ino}]")
        return ours, theirs

    monkeypatch.setattr(socket, "socketpair", socketpair)
    return made


def _printed_by(standby: Standby, order: Order) -> set[str]:
    """The words the standby's child printed when given `order` (here: the sockets it held)."""
    child = standby.start(order)
    printed = set(child.output.read().decode().split())
    os.waitpid(child.pid, 0)
    return printed


def test_a_standby_cannot_reach_the_zygote(
    worker_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zygote forks whatever its socket asks for, into whatever groups: a standby (and the actor
    it becomes) must not hold that socket."""
    made = _zygote_ends(monkeypatch)
    zygote = Zygote(serve_callables)
    (zygotes_end,) = made  # the standby's own orders socket comes next
    try:
        standby = Standby(worker_settings, zygote)
        spec = run_spec(source={"sourceType": "PYTHON_CALLABLE", "callable": "tests.actors:print_sockets"})
        held = _printed_by(standby, spec)
        in_zygote = _sockets(zygote.pid)
        standby.close()
    finally:
        zygote.close()
    assert zygotes_end in in_zygote
    assert zygotes_end not in held  # a callable runs in the standby's own process


def test_a_programs_standby_cannot_reach_the_fresh_zygote(
    worker_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for the fresh zygote, whose socket reaches it across an exec: neither the standby
    waiting for its order nor the program it execs holds it."""
    made = _zygote_ends(monkeypatch)
    zygote = Zygote(None)
    (zygotes_end,) = made
    try:
        standby = Standby(worker_settings, zygote)
        # The clone's child closes the socket first thing, as the zygote answers with its pid.
        deadline = time.monotonic() + 10
        while (waiting := _sockets(standby.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        listing = Exec(argv=["sh", "-c", "readlink /proc/$$/fd/*"], cwd="/", env={"PATH": os.defpath})
        held = _printed_by(standby, listing)
        in_zygote = _sockets(zygote.pid)
        standby.close()
    finally:
        zygote.close()
    assert zygotes_end in in_zygote
    assert zygotes_end not in waiting
    assert zygotes_end not in held


def _runs_noop(standby: Standby) -> int:
    """The standby's exit code once given the no-op callable, waited for as the supervisor does."""
    child = standby.start(run_spec(source={"sourceType": "PYTHON_CALLABLE", "callable": "tests.actors:noop"}))
    child.output.read()
    _, status, _usage = os.wait4(child.pid, 0)  # only a parent can
    standby.close()
    return os.waitstatus_to_exitcode(status)


def _faults_writing(memory: bytearray, value: bytes) -> int:
    """This thread's page faults while it writes one byte in every page of `memory`."""
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    memory[::PAGE] = value * PAGES
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before


def test_a_standby_from_the_zygote_is_the_workers_child_and_shares_no_page_the_worker_writes(
    worker_settings: Settings,
) -> None:
    zygote = Zygote(serve_callables)
    try:
        memory = bytearray(PAGES * PAGE)  # made after the zygote: only a fork from the worker shares it
        memory[::PAGE] = b"\1" * PAGES
        from_zygote = Standby(worker_settings, zygote)
        assert _parent(from_zygote.pid) == os.getpid()
        assert _parent(zygote.pid) == os.getpid()
        copied_for_zygotes = _faults_writing(memory, b"\2")
        assert _runs_noop(from_zygote) == 0

        # The control: a standby forked from the worker itself shares the pages, and each write copies one.
        from_worker = Standby(worker_settings)
        copied_for_worker = _faults_writing(memory, b"\3")
        assert _runs_noop(from_worker) == 0
    finally:
        zygote.close()
    assert copied_for_worker >= PAGES * 9 // 10
    assert copied_for_zygotes < PAGES // 10


def test_a_program_started_in_a_standby_from_the_zygote_is_handed_over_once_it_is_execd(
    worker_settings: Settings,
) -> None:
    """start() waits for EOF on the standby's status pipe, which only exec closes (close-on-exec).
    Descriptors passed over a socket come without that flag: the program held the pipe open, and
    start() came back only when it ended (a reboot or an abort then waited for the actor's end)."""
    zygote = Zygote(serve_callables)
    try:
        standby = Standby(worker_settings, zygote)
        child = standby.start(Exec(argv=["sleep", "5"], cwd="/", env={"PATH": os.defpath}))
        still_running = os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
        standby.close()
    finally:
        zygote.close()
    assert still_running


def _anonymous_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1])
    raise AssertionError(f"no Anonymous line for pid {pid}")


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_programs_standbys_come_from_a_fresh_zygote_and_callables_from_a_copy_of_the_worker(
    worker_settings: Settings,
) -> None:
    """A process actor's standby only execs: it is forked from a fresh interpreter that imported
    little, whose memory (page tables to copy at the fork and to free at the exec) is a fraction of
    the worker's. A callable's needs the worker's imports: it is forked from a copy of the worker."""
    standbys = Standbys(worker_settings)
    standbys.enable()
    try:
        fresh, forked = standbys._zygotes["program"], standbys._zygotes["callable"]
        assert _parent(fresh.pid) == _parent(forked.pid) == os.getpid()
        assert "fresh_main" in _cmdline(fresh.pid)
        assert _cmdline(forked.pid) == _cmdline(os.getpid())
        # This test process holds pytest's and Greenroom's imports, as a worker holds its own.
        assert _anonymous_kb(fresh.pid) * 3 < _anonymous_kb(forked.pid)

        program = standbys.take("program")
        assert _parent(program.pid) == os.getpid()  # the worker waits for it and reads its usage
        assert "fresh_main" in _cmdline(program.pid)
        order = Exec(argv=["sh", "-c", "echo $PPID; exit 3"], cwd="/", env={"PATH": os.defpath})
        child = program.start(order)
        assert child.output.read().decode().strip() == str(os.getpid())
        _, status, _usage = os.wait4(child.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
        program.close()

        callable_ = standbys.take("callable")
        assert _cmdline(callable_.pid) == _cmdline(os.getpid())
        assert _runs_noop(callable_) == 0
    finally:
        standbys.close()
    for zygote in (fresh, forked):  # gone with their sockets
        assert not Path(f"/proc/{zygote.pid}").exists()


def test_a_worker_that_runs_no_callables_makes_no_copy_of_itself(settings: Settings) -> None:
    plain = Settings(memory_limit="off", sandbox="off")  # GREENROOM_CALLABLE_MODULES empty
    with as_worker(plain, settings):
        standbys = Standbys(plain)
        try:
            standbys.enable()
            assert list(standbys._zygotes) == ["program"]
            assert list(standbys._ready) == ["program"]
        finally:
            standbys.close()


def test_a_callable_sent_to_a_programs_standby_fails_and_says_why(worker_settings: Settings) -> None:
    """A fresh zygote has no callable to call (nor Greenroom's storage): such an order is a bug, and
    the run fails with the reason in its log instead of importing the worker into the child."""
    zygote = Zygote(None)
    try:
        standby = Standby(worker_settings, zygote)
        noop = run_spec(source={"sourceType": "PYTHON_CALLABLE", "callable": "tests.actors:noop"})
        child = standby.start(noop)
        output = child.output.read().decode()
        _, status, _usage = os.wait4(child.pid, 0)
        standby.close()
    finally:
        zygote.close()
    assert os.waitstatus_to_exitcode(status) == 91
    assert "a callable sent to a program's standby" in output


def _runs(standby: Standby, kind: Kind) -> int:
    """The standby's exit code once given a no-op of its kind."""
    if kind == "callable":
        return _runs_noop(standby)
    child = standby.start(Exec(argv=["true"], cwd="/", env={"PATH": os.defpath}))
    child.output.read()
    _, status, _usage = os.wait4(child.pid, 0)
    standby.close()
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("kind", ["callable", "program"])
def test_a_killed_zygote_is_replaced_and_its_standbys_are_forked_from_the_worker_meanwhile(
    worker_settings: Settings, caplog: pytest.LogCaptureFixture, kind: Kind
) -> None:
    standbys = Standbys(worker_settings)
    standbys.enable()
    try:
        first = standbys._zygotes[kind]
        os.kill(first.pid, signal.SIGKILL)
        os.waitpid(first.pid, 0)
        ready = standbys.take(kind)  # made by the zygote before it was killed: still the worker's child
        assert _runs(ready, kind) == 0
        # The next one cannot come from the zygote: the worker forks it, and a new zygote comes
        # at the next refill.
        made = standbys.take(kind)
        assert "is gone" in caplog.text
        assert kind not in standbys._zygotes
        assert _cmdline(made.pid) == _cmdline(os.getpid())
        assert _runs(made, kind) == 0
        standbys.refill()
        second = standbys._zygotes[kind]
        assert second.pid != first.pid
        again = standbys.take(kind)
        assert ("fresh_main" in _cmdline(again.pid)) == (kind == "program")
        assert _runs(again, kind) == 0
    finally:
        standbys.close()
