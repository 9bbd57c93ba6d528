"""Pay-per-event charges: one run_charges row per charge, and the run's chargedEventCounts beside them.

The counts are a JSON map rewritten whole, so a charge takes the run's row first (lock_run) and two
charges of one run never interleave; the unique (run_id, idempotency_key) makes a retried charge
the same row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from server.storage.ids import new_id
from server.storage.models import Run, RunCharge

RUNS = cast(Table, Run.__table__)
CHARGES = cast(Table, RunCharge.__table__)

# A no-op UPDATE takes the run's row until commit, on SQLite (the database's write lock) and on
# PostgreSQL alike (FOR NO KEY UPDATE, which does not block inserts that reference the run).
_LOCK_RUN = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"))
    .values(charged_event_counts=RUNS.c.charged_event_counts)
)
_RUN_PRICING = select(RUNS.c.status, RUNS.c.pricing_info, RUNS.c.charged_event_counts, RUNS.c.options).where(
    RUNS.c.id == bindparam("run_id")
)
CHARGED_EVENT_COUNTS = select(RUNS.c.charged_event_counts).where(RUNS.c.id == bindparam("run_id"))
_BY_KEY = select(CHARGES.c.event_name, CHARGES.c.count).where(
    CHARGES.c.run_id == bindparam("run_id"), CHARGES.c.idempotency_key == bindparam("key")
)
_ALREADY_CHARGED = (
    select(CHARGES.c.id)
    .where(CHARGES.c.run_id == bindparam("run_id"), CHARGES.c.event_name == bindparam("event_name"))
    .limit(1)
)
_INSERT = insert(CHARGES)
_SET_COUNTS = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"))
    .values(charged_event_counts=bindparam("counts", type_=RUNS.c.charged_event_counts.type))
)


def lock_run(session: Session, run_id: str) -> dict[str, Any] | None:
    """Take the run's row for this transaction; then its status, pricing, counts and options."""
    session.execute(_LOCK_RUN, {"run_id": run_id})
    row = session.execute(_RUN_PRICING, {"run_id": run_id}).one_or_none()
    return None if row is None else dict(row._mapping)


def charge_by_key(session: Session, run_id: str, key: str) -> tuple[str, int] | None:
    """(event name, count) of the run's charge made under `key`, if there is one."""
    row = session.execute(_BY_KEY, {"run_id": run_id, "key": key}).one_or_none()
    return None if row is None else (str(row[0]), int(row[1]))


def was_charged(session: Session, run_id: str, event_name: str) -> bool:
    params = {"run_id": run_id, "event_name": event_name}
    return session.execute(_ALREADY_CHARGED, params).first() is not None


def add_charge(
    session: Session,
    run_id: str,
    event_name: str,
    count: int,
    key: str | None,
    at: datetime,
    counts: dict[str, int],
) -> dict[str, int]:
    """Write one charge and the run's counts with it; the new counts."""
    session.execute(
        _INSERT,
        {
            "id": new_id(),
            "run_id": run_id,
            "event_name": event_name,
            "count": count,
            "idempotency_key": key,
            "created_at": at,
        },
    )
    counts = dict(counts) | {event_name: int(counts.get(event_name, 0)) + count}
    session.execute(_SET_COUNTS, {"run_id": run_id, "counts": counts})
    return counts


def charge_row(run_id: str, event_name: str, count: int, at: datetime) -> dict[str, Any]:
    """A charge the platform makes itself (no idempotency key), as column values for an insert."""
    return {
        "id": new_id(),
        "run_id": run_id,
        "event_name": event_name,
        "count": count,
        "idempotency_key": None,
        "created_at": at,
    }


INSERT_CHARGE = _INSERT

# A dataset's run, when the dataset is that run's default one: (pricing_info, charged_event_counts).
_DEFAULT_DATASET_RUN = select(RUNS.c.pricing_info).where(
    RUNS.c.id == bindparam("run_id"), RUNS.c.default_dataset_id == bindparam("dataset_id")
)


def default_dataset_pricing(session: Session, run_id: str, dataset_id: str) -> dict[str, Any] | None:
    """The pricing of the run whose default dataset this is (None: not one, or no pricing)."""
    params = {"run_id": run_id, "dataset_id": dataset_id}
    value = session.execute(_DEFAULT_DATASET_RUN, params).scalar_one_or_none()
    return None if value is None else dict(value)
