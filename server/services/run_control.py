"""Abort and resurrect: status changes by compare-and-set, committed before anyone is told."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from sqlalchemy import update

from server.errors import ApiError
from server.events import publish_abort, publish_run_finished
from server.lifespan import AppState
from server.observability.metrics import instruments
from server.queue import enqueue_run
from server.run_options import RunOverrides
from server.services.build_versions import resolve_build
from server.services.limits import check_start_allowed
from server.services.pricing import ACTOR_START_EVENT, check_max_total_charge, start_event_count
from server.services.webhooks import enqueue_dispatches_of
from server.statuses import TERMINAL, RunStatus
from server.storage.charges import add_charge, lock_run
from server.storage.ids import utcnow
from server.storage.models import Actor, Build, Run
from server.storage.runs import RUNS, transition_stmt
from server.webhooks.events import RUN_EVENTS, RUN_RESURRECTED, fire_run

ABORTED_MESSAGE = "Actor run was aborted"


async def abort_run(state: AppState, run: Run, gracefully: bool) -> None:
    """READY → ABORTED at once; RUNNING/TIMING-OUT → ABORTING, and the supervisor ends it.

    Other statuses are left alone, as Apify does ("this call does nothing").
    """
    async with state.db.transaction() as session:
        never_started = await session.execute(
            transition_stmt(
                run.id,
                [RunStatus.READY],
                status=RunStatus.ABORTED.value,
                finished_at=utcnow(),
                status_message=ABORTED_MESSAGE,
            )
        )
        if never_started.rowcount == 1:  # type: ignore[attr-defined]
            await session.run_sync(fire_run, RUN_EVENTS[RunStatus.ABORTED], run.id)
        else:
            await session.execute(
                transition_stmt(
                    run.id,
                    [RunStatus.RUNNING, RunStatus.TIMING_OUT],
                    status=RunStatus.ABORTING.value,
                    abort_gracefully=gracefully,
                )
            )
    # Committed; now the waiters (a run that never started) or the supervisor (a running one) hear.
    if never_started.rowcount == 1:  # type: ignore[attr-defined]
        instruments().runs_finished.labels(RunStatus.ABORTED.value, run.origin).inc()  # no worker ended it
        await anyio.to_thread.run_sync(publish_run_finished, state.redis, state.settings.redis_prefix, run.id)
        await enqueue_dispatches_of(state, session)
    else:
        await anyio.to_thread.run_sync(publish_abort, state.redis, state.settings.redis_prefix, run.id)


async def resurrect_run(state: AppState, run: Run, actor: Actor, overrides: RunOverrides) -> bool:
    """A finished run goes back to READY with the same storages, and is enqueued again.

    The build stays the one the run used unless `build` names another; timeout and memory may change.
    False if the run is not finished (nothing changes).
    """
    options: dict[str, Any] = dict(run.options)
    if overrides.timeout_s is not None:
        options["timeoutSecs"] = overrides.timeout_s
    if overrides.memory_mbytes is not None:
        options["memoryMbytes"] = overrides.memory_mbytes
        options["diskMbytes"] = 2 * overrides.memory_mbytes
    if overrides.max_items is not None:
        options["maxItems"] = overrides.max_items
    if overrides.restart_on_error is not None:
        options["restartOnError"] = overrides.restart_on_error
    if overrides.max_total_charge_usd is not None:
        check_max_total_charge(run.pricing_info, overrides.max_total_charge_usd)
        options["maxTotalChargeUsd"] = overrides.max_total_charge_usd
    stats = dict(run.stats) | {"resurrectCount": int(run.stats.get("resurrectCount", 0)) + 1}
    async with state.db.transaction() as session:
        # The same limits as a new start (server/services/limits.py), before anything changes.
        await session.run_sync(check_start_allowed, state.settings, run.user_id, int(options["memoryMbytes"]))
        values: dict[str, Any] = {
            "queue_name": state.settings.queue_name,
            "status": RunStatus.READY.value,
            "finished_at": None,
            "exit_code": None,
            "status_message": None,
            "is_status_message_terminal": None,
            "abort_gracefully": None,
            "options": options,
            "stats": stats,
        }
        if overrides.build is not None:
            build = await session.run_sync(resolve_build, actor, overrides.build)
            values |= {"build_id": build.id, "build_number": build.number}
            options["build"] = overrides.build
        elif await session.get(Build, run.build_id) is None:
            # Its build was deleted since (DELETE /v2/actor-builds/:id): the worker could not start it.
            raise ApiError(
                f"The build this run used ({run.build_id}) was deleted: give another with 'build'.",
                status_code=400,
                error_type="build-not-found",
            )
        moved = await session.execute(
            update(RUNS)
            .where(RUNS.c.id == run.id, RUNS.c.status.in_([s.value for s in TERMINAL]))
            .values(**values)
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            await session.run_sync(fire_run, RUN_RESURRECTED, run.id)
            # Apify charges the start event again when a run is resurrected.
            starts = start_event_count(run.pricing_info, int(options["memoryMbytes"]))
            current = await session.run_sync(lock_run, run.id) if starts else None
            if current is not None:
                counts = dict(current["charged_event_counts"] or {})
                args = (run.id, ACTOR_START_EVENT, starts, None, utcnow(), counts)
                await session.run_sync(add_charge, *args)
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await enqueue_run(state.queue, run.id, state.enqueuing)
    await enqueue_dispatches_of(state, session)
    return True
