"""A worker's lease on its run (worker/lease.py), renewed by one thread per process: renewed while
held, never after close(), and lost (on_lost, once) when the run is no longer the attempt's."""

from __future__ import annotations

import threading
import time

import httpx
from sqlalchemy import select, update

from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.leases import RENEW_RUN
from server.storage.models import Run
from tests.actors import callable_actor
from tests.runs_db import insert_run
from worker.lease import Lease

# Long enough that the session's sweeper never finds one of these runs' leases expired, and ends the
# run, once a lease is closed; renewed every 0.1 s all the same.
_LEASE_S = 60.0


class _Quick(Lease):
    interval_s = 0.1


def _expiry(db: SyncDatabase, run_id: str) -> object:
    with db.begin() as connection:
        return connection.execute(select(Run.lease_expires_at).where(Run.id == run_id)).scalar_one()


def _held(db: SyncDatabase, api: httpx.Client, name: str, owner: str) -> str:
    actor = api.post("/acts", json=callable_actor(name, "noop")).json()["data"]
    run_id = insert_run(db, actor["id"], RunStatus.RUNNING)
    with db.begin() as connection:
        connection.execute(update(Run).where(Run.id == run_id).values(lease_owner=owner))
    return run_id


def test_two_leases_are_renewed_until_closed(db: SyncDatabase, api: httpx.Client) -> None:
    runs = [_held(db, api, f"leased-{index}", f"owner-{index}") for index in range(2)]
    lost: list[str] = []
    leases = [
        _Quick(
            db, RENEW_RUN, {"run_id": run_id, "owner": f"owner-{index}"}, _LEASE_S, lambda: lost.append("!")
        )
        for index, run_id in enumerate(runs)
    ]
    for lease in leases:
        lease.start()
    time.sleep(0.15)
    first = [_expiry(db, run_id) for run_id in runs]
    assert None not in first
    time.sleep(0.25)
    assert all(_expiry(db, run_id) != before for run_id, before in zip(runs, first, strict=True))
    leases[0].close()
    closed_at = _expiry(db, runs[0])
    time.sleep(0.35)
    assert _expiry(db, runs[0]) == closed_at  # never renewed after close()
    assert _expiry(db, runs[1]) != first[1]
    leases[1].close()
    assert lost == []


def test_a_lease_the_run_no_longer_has_is_lost_once(db: SyncDatabase, api: httpx.Client) -> None:
    """The sweeper ended the run (or restarted it for another attempt) while this worker was
    stalled: the next renewal moves no row, and the supervisor is told once."""
    run_id = _held(db, api, "lease-lost", "mine")
    lost = threading.Event()
    calls: list[str] = []

    def on_lost() -> None:
        calls.append("lost")
        lost.set()

    lease = _Quick(db, RENEW_RUN, {"run_id": run_id, "owner": "mine"}, _LEASE_S, on_lost)
    lease.start()
    with db.begin() as connection:
        connection.execute(update(Run).where(Run.id == run_id).values(lease_owner="the sweeper's restart"))
    assert lost.wait(5)
    time.sleep(0.35)
    lease.close()
    assert calls == ["lost"]
