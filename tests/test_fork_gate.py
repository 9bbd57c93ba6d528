"""A callable actor is forked from a worker whose other threads (lease, abort watch) use the database:
the child must never inherit a lock held by one of them (SQLite's are process-wide)."""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from server.migrate import upgrade
from server.settings import Settings
from tests.actors import run_spec
from worker import context as worker_context
from worker.runners.base import RunSpec
from worker.runners.standby import Standby
from worker.supervisor import Child

FORKS = 100  # before the gate, about 1 in 30 hung


def _spec(target: str) -> RunSpec:
    return run_spec(actor_name="gate", source={"sourceType": "PYTHON_CALLABLE", "callable": target})


def _start(target: str) -> Child:
    """The callable in a standby forked now (the worker forks them between jobs: its threads go on)."""
    return Standby(Settings(memory_limit="off", sandbox="off")).start(_spec(target))


@pytest.fixture
def sqlite_worker(settings: Settings, tmp_path: Path) -> Iterator[worker_context.WorkerContext]:
    """This process as a worker on a SQLite file of its own (the driver whose locks are global)."""
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    upgrade(url)
    worker_context.configure(replace(settings, database_url=url))
    try:
        yield worker_context.get_context()
    finally:
        worker_context.dispose_context()
        worker_context.configure(settings)


def _exit_code(pid: int, within_s: float) -> int | None:
    """The child's exit code, or None (and it is killed) if it did not end within_s."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], within_s)
    finally:
        os.close(pidfd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if ready else None


def test_callables_forked_while_other_threads_use_the_database_all_start(
    sqlite_worker: worker_context.WorkerContext,
) -> None:
    db = sqlite_worker.db
    done = threading.Event()

    def busy() -> None:  # what the lease and abort threads do, without pause
        while not done.is_set():
            with db.begin() as connection:
                connection.execute(text("SELECT count(*) FROM runs")).scalar_one()

    threads = [threading.Thread(target=busy, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    hung = 0
    try:
        for _ in range(FORKS):
            child = _start("tests.actors:read_input")
            child.output.close()
            code = _exit_code(child.pid, within_s=10)
            hung += code is None
            assert code in (0, None), code
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert hung == 0, f"{hung} of {FORKS} children hung on their first statement"


def test_the_fork_waits_for_a_statement_in_flight(sqlite_worker: worker_context.WorkerContext) -> None:
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with sqlite_worker.db.begin():
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    forked: list[int] = []
    codes: list[int | None] = []

    def spawn() -> None:  # waits for its child too: the child dies with the thread that forked it
        standby = Standby(Settings(memory_limit="off", sandbox="off"))
        forked.append(standby.pid)
        codes.append(_exit_code(standby.start(_spec("tests.actors:noop")).pid, within_s=10))

    spawner = threading.Thread(target=spawn)
    spawner.start()
    time.sleep(0.3)
    assert forked == []  # still waiting for the statement to end
    leave.set()
    holder.join()
    spawner.join(15)
    assert len(forked) == 1 and codes == [0]
