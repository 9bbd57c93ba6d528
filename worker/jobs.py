"""execute_run: the only RQ entry point for runs. Claim, start, supervise, finalize, publish."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select

from server.events import publish_run_started
from server.statuses import RunStatus
from server.storage.ids import hash_token, iso, new_id, new_token, utcnow
from server.storage.leases import RENEW_RUN
from server.storage.models import Actor, ApiToken, Build, User
from server.storage.runs import ACTIVE, CLAIM, RUNS, transition_stmt
from worker.abort import AbortWatch
from worker.context import WorkerContext, get_context
from worker.events import RunEvents
from worker.finalize import finalize, outcome_status
from worker.lease import Lease, lease_until
from worker.logs import LogWriter
from worker.meter import Meter
from worker.outage import until_written
from worker.restarts import Restarts
from worker.runners.base import RunOutcome, RunSpec
from worker.runners.inprocess import load_callable
from worker.runners.process import spawn_process
from worker.runners.standby import Standby, standbys
from worker.shutdown import STOPPED, hand_back, stop_request
from worker.supervisor import Child, supervise
from worker.usage import system_info

log = logging.getLogger(__name__)


_BUILDS, _ACTORS, _USERS, _TOKENS = (cast(Table, model.__table__) for model in (Build, Actor, User, ApiToken))
_SPEC = (
    select(
        RUNS,
        _BUILDS.c.source,
        _ACTORS.c.name.label("actor_name"),
        _ACTORS.c.tagged_builds,
        _BUILDS.c.status.label("build_status"),
        _BUILDS.c.options.label("build_options"),
        _BUILDS.c.tag.label("build_tag"),
        _USERS.c.username,
    )
    .join(_BUILDS, _BUILDS.c.id == RUNS.c.build_id)
    .join(_ACTORS, _ACTORS.c.id == RUNS.c.act_id)
    .join(_USERS, _USERS.c.id == RUNS.c.user_id)
    .where(RUNS.c.id == bindparam("run_id"))
)
_INSERT_TOKEN = insert(_TOKENS)


def _claim(ctx: WorkerContext, run_id: str, owner: str) -> tuple[RunSpec, dict[str, Any]] | None:
    """READY -> RUNNING with this attempt's lease, and a token for the run, in one transaction; None if
    someone else has it."""
    claim = {"run_id": run_id, "owner": owner, "until": lease_until(ctx.settings.run_lease_s)}
    with ctx.db.begin() as connection:
        if connection.execute(CLAIM, claim).rowcount != 1:
            return None
        run = connection.execute(_SPEC, {"run_id": run_id}).one()._mapping
        token = new_token()
        connection.execute(
            _INSERT_TOKEN,
            {
                "id": new_id(),
                "user_id": run["user_id"],
                "token_hash": hash_token(token),
                "run_id": run_id,
                "created_at": utcnow(),
            },
        )
    spec = RunSpec(
        run_id=run_id,
        user_id=run["user_id"],
        username=run["username"],
        act_id=run["act_id"],
        actor_name=run["actor_name"],
        actor_task_id=run["actor_task_id"],
        build_id=run["build_id"],
        build_number=run["build_number"],
        source=dict(run["source"]),
        options=dict(run["options"]),
        default_key_value_store_id=run["default_key_value_store_id"],
        default_dataset_id=run["default_dataset_id"],
        default_request_queue_id=run["default_request_queue_id"],
        started_at=iso(run["started_at"]) or "",
        token=token,
        origin=run["origin"],
        build_status=run["build_status"],
        use_cache=(run["build_options"] or {}).get("useCache") is not False,
        # The tags pointing at the build, and the one it takes when it succeeds: a run of a build still
        # in progress (built on demand) has its tag too.
        build_tags=tuple(
            sorted(
                {
                    tag
                    for tag, build in (run["tagged_builds"] or {}).items()
                    if build.get("buildId") == run["build_id"]
                }
                | ({run["build_tag"]} if run["build_tag"] else set())
            )
        ),
    )
    return spec, dict(run["stats"])


def _spawn(
    ctx: WorkerContext,
    spec: RunSpec,
    standby: Standby,
    events: RunEvents | None,
    run_log: LogWriter,
    abort: AbortWatch,
) -> Child:
    """The actor, started in `standby`. A process actor whose build directory is not on this worker
    yet has it made first, into the run log."""
    if events is None:
        if not ctx.settings.allows_callable(spec.source["callable"]):  # a row from before the setting
            raise PermissionError(f"{spec.source['callable']} is not in GREENROOM_CALLABLE_MODULES")
        load_callable(spec)  # an import error fails the run here, in the worker's own words
        return standby.start(spec)
    return spawn_process(spec, ctx.settings, standby, events.url, log=run_log, abort_fd=abort.fileno())


def _events(ctx: WorkerContext, spec: RunSpec) -> RunEvents | None:
    """Process actors get an events websocket (callables run inside Greenroom and need none)."""
    if spec.source["sourceType"] == "PYTHON_CALLABLE":
        return None
    events = RunEvents(ctx.settings.system_info_interval_s)
    events.start()
    return events


def execute_run(run_id: str) -> str | None:
    """Run one actor run to its end. A run that is not READY (a duplicate delivery) is left alone."""
    ctx = get_context()
    owner = new_id()
    claimed = _claim(ctx, run_id, owner)
    if claimed is None:
        log.info("run %s is not READY; skipping", run_id)
        return None
    spec, base_stats = claimed
    publish_run_started(ctx.redis, ctx.settings.redis_prefix, run_id)
    run_log = LogWriter(ctx.db, run_id, ctx.settings.log_max_chars)

    def timing_out() -> None:
        with ctx.db.begin() as connection:
            connection.execute(
                transition_stmt(run_id, [RunStatus.RUNNING], status=RunStatus.TIMING_OUT.value)
            )
        run_log.line(
            f"[greenroom] The run has reached its timeout of {spec.timeout_s:g} seconds; stopping it."
        )

    settings = ctx.settings
    meter = Meter(int(spec.options["memoryMbytes"]))
    restarts = Restarts(spec, base_stats)
    # Listening before the actor starts: an abort asked for from now on is heard (or read from SQL).
    abort = AbortWatch(settings.redis_url, settings.redis_prefix, ctx.db, run_id)
    abort.start()
    # Renewed while the run goes; lost (the sweeper ended the run while this worker was stalled), it
    # stops the actor as an abort would, and finalize then leaves the run as the sweeper wrote it.
    lease = Lease(ctx.db, RENEW_RUN, {"run_id": run_id, "owner": owner}, settings.run_lease_s, abort.fire)
    lease.start()
    events = None

    def live_stats() -> None:
        if meter.due(_LIVE_STATS_INTERVAL_S):
            _write_stats(ctx, run_id, base_stats | meter.stats() | {"restartCount": restarts.count})

    try:
        # Listening before the actor starts: the SDK connects first thing.
        events = _events(ctx, spec)
        while True:
            attempt = restarts.attempt_spec()
            outcome, message, started = _attempt(
                ctx, attempt, run_log, timing_out, abort, events, meter, live_stats
            )
            if not restarts.should_restart(outcome, started, abort):
                break
            restarts.restart(run_log, message or outcome_status(outcome)[1])
            _write_stats(ctx, run_id, base_stats | meter.stats() | {"restartCount": restarts.count})
    finally:
        lease.close()
        abort.close()
        if events is not None:
            events.close()
    outcome = replace(outcome, stats=base_stats | outcome.stats | {"restartCount": restarts.count})
    if outcome.worker_stopped:
        if hand_back(ctx, run_id, owner, spec.options, outcome.stats, run_log):
            return None
        message = STOPPED.format(grace_s=settings.worker_stop_grace_s)
    # The log is whole before the run ends, even if the database was away for a while.
    until_written(lambda: run_log.flush(strict=True), f"the log of run {run_id}")
    return finalize(ctx, run_id, owner, outcome, message).value


def _attempt(
    ctx: WorkerContext,
    spec: RunSpec,
    run_log: LogWriter,
    timing_out: Callable[[], None],
    abort: AbortWatch,
    events: RunEvents | None,
    meter: Meter,
    on_sample: Callable[[], None],
) -> tuple[RunOutcome, str | None, bool]:
    """Start the actor under its memory limit and supervise it: (outcome, message, whether it started)."""
    settings = ctx.settings
    memory_mbytes = int(spec.options["memoryMbytes"])
    try:
        standby = standbys().take()
        limit = standby.limit
        try:
            limit.apply(memory_mbytes * 1024 * 1024)
            child = _spawn(ctx, spec, standby, events, run_log, abort)
            if events is not None:
                events.watch(system_info(meter, memory_mbytes))
            outcome = supervise(
                child,
                run_log,
                spec.timeout_s,
                settings.kill_grace_s,
                timing_out,
                abort,
                settings.abort_grace_s,
                events=events,
                limit=limit,
                meter=meter,
                on_sample=on_sample,
                stop=stop_request(),
                stop_grace_s=settings.worker_stop_grace_s,
                on_stopping=events.migrating if events is not None else None,
            )
        finally:
            standby.close()
    except Exception as exc:  # the actor could not even start: the run fails, the worker goes on
        run_log.line("[greenroom] The actor could not be started:\n" + traceback.format_exc())
        run_log.flush()
        return RunOutcome(exit_code=1, stats=meter.stats()), f"The actor could not be started: {exc}", False
    if outcome.out_of_memory:
        return outcome, f"The Actor ran out of memory (limit {memory_mbytes} MB)", True
    return outcome, None, True


# While a run goes, its stats in SQL are at most this old (memCurrentBytes, cpuCurrentUsage...).
_LIVE_STATS_INTERVAL_S = 5.0


def _write_stats(ctx: WorkerContext, run_id: str, stats: dict[str, Any]) -> None:
    with ctx.db.begin() as connection:
        connection.execute(transition_stmt(run_id, ACTIVE, stats=stats))
