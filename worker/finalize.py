"""The terminal state: written by the supervising worker in one transaction, then published."""

from __future__ import annotations

from collections.abc import Callable

from server.events import publish_run_finished
from server.queue import enqueue_new_dispatches_sync
from server.statuses import RunStatus
from server.storage.limits import wake_ids_at_end
from server.storage.prepared import Prepared
from server.storage.runs import DELETE_RUN_TOKENS, finish
from server.webhooks.events import RUN_EVENTS, fire_run_sync
from worker.context import WorkerContext
from worker.logs import LogWriter
from worker.outage import until_published, until_written
from worker.runners.base import RunOutcome
from worker.webhooks.delivery import webhook_queue

_DELETE_RUN_TOKENS = Prepared(DELETE_RUN_TOKENS)  # every run's end: prepared on SQLite


def outcome_status(outcome: RunOutcome) -> tuple[RunStatus, str]:
    if outcome.aborted:
        return RunStatus.ABORTED, "Actor run was aborted"
    if outcome.timed_out:
        return RunStatus.TIMED_OUT, "Actor run timed out"
    if outcome.worker_stopped:
        return RunStatus.FAILED, "The worker running this Actor run was stopped"
    if outcome.out_of_memory:  # even if the main process exited 0: the limit is a hard one
        return RunStatus.FAILED, "The Actor ran out of memory"
    if outcome.exit_code == 0:
        return RunStatus.SUCCEEDED, "Actor finished with exit code 0"
    return RunStatus.FAILED, f"Actor finished with exit code {outcome.exit_code}"


def finalize(
    ctx: WorkerContext,
    run_id: str,
    user_id: str,
    owner: str,
    outcome: RunOutcome,
    message: str | None = None,
    *,
    memory_mbytes: int,
    log: LogWriter,
) -> tuple[RunStatus, list[str]]:
    """End the run this attempt (owner) holds; a run the sweeper already ended or restarted is left.
    Also the READY runs of its user to wake now (worker/fair.py), read in the same transaction
    (`memory_mbytes`: the run's), and the last of its `log`: the log is whole when the run ends."""
    status, default_message = outcome_status(outcome)
    woken: list[str] = []

    def write() -> tuple[list[str], Callable[[], None]]:
        with ctx.db.begin() as connection:
            logged = log.last_chunk(connection)
            ending, params = finish(
                run_id,
                status,
                exit_code=outcome.exit_code,
                status_message=message or default_message,
                stats=outcome.stats,
                owner=owner,
            )
            moved = ending.execute(connection, params)
            # The run's own token dies with the run.
            _DELETE_RUN_TOKENS.execute(connection, {"run_id": run_id})
            woken[:] = wake_ids_at_end(connection, ctx.settings, user_id, memory_mbytes)
            # The webhooks of this transition, fired with it (none if the run was ended elsewhere).
            return (fire_run_sync(connection, RUN_EVENTS[status], run_id) if moved == 1 else []), logged

    # The actor's end is a fact: a database that is away (restarting) is waited for, not a reason
    # to leave the run RUNNING for the sweeper to fail.
    dispatches, logged = until_written(write, f"the end of run {run_id}")
    logged()
    # Committed: now wake the waiters, then queue the webhooks. Redis away: the wake-up waits for it
    # (a waiter whose API did not lose Redis would otherwise wait out its limit).
    until_published(
        lambda: publish_run_finished(ctx.redis, ctx.settings.redis_prefix, run_id), f"the end of run {run_id}"
    )
    if dispatches:
        enqueue_new_dispatches_sync(webhook_queue(ctx), dispatches)
    return status, woken
