"""Run statements. Every status change is a compare-and-set: UPDATE ... WHERE status IN (...)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Update, case, or_, select, update

from server.statuses import RunStatus
from server.storage.ids import utcnow
from server.storage.models import Run

ACTIVE = (RunStatus.RUNNING, RunStatus.TIMING_OUT, RunStatus.ABORTING)


def get_run_stmt(run_id: str) -> Select[Run]:
    return select(Run).where(Run.id == run_id)


def transition_stmt(run_id: str, from_statuses: Iterable[RunStatus], **values: Any) -> Update:
    """Move a run only if it is still in one of from_statuses; rowcount says whether it moved."""
    return (
        update(Run)
        .where(Run.id == run_id, Run.status.in_([s.value for s in from_statuses]))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def claim_stmt(run_id: str) -> Update:
    """READY -> RUNNING. A job delivered twice finds the run no longer READY and does nothing."""
    return transition_stmt(run_id, [RunStatus.READY], status=RunStatus.RUNNING.value)


def finish_stmt(
    run_id: str,
    status: RunStatus,
    *,
    exit_code: int | None,
    status_message: str | None,
    stats: dict[str, Any],
    finished_at: datetime | None = None,
) -> Update:
    values: dict[str, Any] = {
        "status": status.value,
        "exit_code": exit_code,
        "stats": stats,
        "finished_at": finished_at or utcnow(),
    }
    if status_message is not None:
        # The actor's own last word stays when it marked it terminal, or when the run succeeded;
        # a failure or timeout replaces a progress message with its cause.
        keep: ColumnElement[bool] = Run.is_status_message_terminal.is_(True)
        if status is RunStatus.SUCCEEDED:
            keep = or_(keep, Run.status_message.is_not(None))
        values["status_message"] = case((keep, Run.status_message), else_=status_message)
    return transition_stmt(run_id, (RunStatus.READY, *ACTIVE), **values)
