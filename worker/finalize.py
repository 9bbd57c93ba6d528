"""The terminal state: written by the supervising worker in one transaction, then published."""

from __future__ import annotations

from server.events import publish_run_finished
from server.statuses import RunStatus
from server.storage.runs import DELETE_RUN_TOKENS, finish
from worker.context import WorkerContext
from worker.runners.base import RunOutcome


def outcome_status(outcome: RunOutcome) -> tuple[RunStatus, str]:
    if outcome.aborted:
        return RunStatus.ABORTED, "Actor run was aborted"
    if outcome.timed_out:
        return RunStatus.TIMED_OUT, "Actor run timed out"
    if outcome.exit_code == 0:
        return RunStatus.SUCCEEDED, "Actor finished with exit code 0"
    return RunStatus.FAILED, f"Actor finished with exit code {outcome.exit_code}"


def finalize(ctx: WorkerContext, run_id: str, outcome: RunOutcome, message: str | None = None) -> RunStatus:
    status, default_message = outcome_status(outcome)
    with ctx.db.begin() as connection:
        connection.execute(
            *finish(
                run_id,
                status,
                exit_code=outcome.exit_code,
                status_message=message or default_message,
                stats=outcome.stats,
            )
        )
        # The run's own token dies with the run.
        connection.execute(DELETE_RUN_TOKENS, {"run_id": run_id})
    # Committed: now wake the waiters.
    publish_run_finished(ctx.redis, ctx.settings.redis_prefix, run_id)
    return status
