"""execute_run: the only RQ entry point for runs. Claim, start, supervise, finalize, publish."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from redis.exceptions import RedisError
from sqlalchemy import Table
from sqlalchemy.exc import SQLAlchemyError

from server.events import publish_run_started
from server.observability.logs import running
from server.observability.metrics import instruments
from server.standby.config import STANDBY_ORIGIN
from server.statuses import RunStatus
from server.storage.charges import CHARGED_EVENT_COUNTS
from server.storage.ids import hash_token, new_id, new_token, utcnow
from server.storage.leases import RENEW_RUN
from server.storage.models import ApiToken
from server.storage.prepared import PreparedInsert
from server.storage.runs import ACTIVE, transition_stmt
from worker.abort import AbortWatch, abort_listener
from worker.context import WorkerContext, get_context
from worker.events import RunEvents
from worker.fair import claim_next, wake_user
from worker.finalize import finalize, outcome_status
from worker.lease import Lease, lease_until
from worker.logs import LogWriter
from worker.meter import Meter
from worker.reboots import RebootSignal, announce, pending
from worker.restarts import Restarts
from worker.run_spec import read_spec
from worker.runners.base import RunOutcome, RunSpec
from worker.runners.inprocess import load_callable
from worker.runners.process import spawn_process
from worker.runners.standby import Standby, kind_of, standbys
from worker.shutdown import STOPPED, hand_back, stop_request
from worker.standby_server import Readiness, actor_uid, standby_port
from worker.supervisor import Child, supervise
from worker.usage import system_info

log = logging.getLogger(__name__)
runs_log = logging.getLogger("greenroom.runs")  # a line as each run starts and ends (INFO)


_TOKENS = cast(Table, ApiToken.__table__)
_INSERT_TOKEN = PreparedInsert(_TOKENS)  # every column given (server/storage/prepared.py)


def _charged(ctx: WorkerContext, run_id: str) -> dict[str, int]:
    with ctx.db.begin() as connection:
        counts = connection.execute(CHARGED_EVENT_COUNTS, {"run_id": run_id}).scalar_one_or_none()
    return dict(counts or {})


def _waited_s(started_at: str) -> float:
    """How long the run was READY: its startedAt is when it was made (as on Apify)."""
    if not started_at:
        return 0.0
    return max(0.0, (utcnow() - datetime.fromisoformat(started_at)).total_seconds())


def _claim(ctx: WorkerContext, job_run_id: str, owner: str) -> tuple[RunSpec, dict[str, Any], int] | None:
    """READY -> RUNNING for the fairest READY run of this worker's queue (worker/fair.py: not
    necessarily the job's own), with this attempt's lease and a token for the run, in one
    transaction; None if nothing READY fits its user's limits. Also the run's stats and reboot
    generation (worker/run_spec.py)."""
    until = lease_until(ctx.settings.run_lease_s)
    with ctx.db.begin() as connection:
        picked = claim_next(connection, ctx.settings, job_run_id, owner, until)
        if picked is None:
            return None
        run_id, user_id = picked
        token = new_token()
        claimed = read_spec(connection, run_id, token)
        _INSERT_TOKEN.execute(
            connection,
            {
                "id": new_id(),
                "user_id": user_id,
                "token_hash": hash_token(token),
                "run_id": run_id,
                "created_at": utcnow(),
                "expires_at": None,
                "description": None,
                "last_used_at": None,
            },
        )
    return claimed


def _spawn(
    ctx: WorkerContext,
    spec: RunSpec,
    standby: Standby,
    events: RunEvents | None,
    run_log: LogWriter,
    abort: AbortWatch,
    web_port: int | None,
) -> Child:
    """The actor, started in `standby`. A process actor whose build directory is not on this worker
    yet has it made first, into the run log."""
    if spec.source["sourceType"] == "PYTHON_CALLABLE":
        if not ctx.settings.allows_callable(spec.source["callable"]):  # a row from before the setting
            raise PermissionError(f"{spec.source['callable']} is not in GREENROOM_CALLABLE_MODULES")
        load_callable(spec)  # an import error fails the run here, in the worker's own words
        child = standby.start(spec, stay_for=_callable_key(spec))
        standbys().preload(spec.source["callable"].partition(":")[0])  # for the runs to come
        return child
    return spawn_process(
        spec,
        ctx.settings,
        standby,
        events.url if events else "",
        log=run_log,
        abort_fd=abort.fileno(),
        web_port=web_port,
    )


def _events(ctx: WorkerContext, spec: RunSpec) -> RunEvents | None:
    """Process actors get an events websocket (callables run inside Greenroom and need none)."""
    if spec.source["sourceType"] == "PYTHON_CALLABLE":
        return None
    events = RunEvents(ctx.settings.system_info_interval_s)
    events.start()
    return events


def execute_run(run_id: str, announce: bool = True) -> str | None:
    """A wake-up for this worker (worker/fair.py): run the fairest READY run to its end (the job's
    own run, or another user's that waited longer). Nothing fitting (a duplicate delivery, every READY
    run held back by its user's limits): nothing to do. `announce=False`: the start of the job's own
    run does not wait for its claim (server/queue.py), so none is published for it; another run
    taken instead is announced."""
    ctx = get_context()
    owner = new_id()
    heard_since = abort_listener(ctx.settings.redis_url, ctx.settings.redis_prefix).mark()
    claimed = _claim(ctx, run_id, owner)
    if claimed is None:
        log.info("job %s: no READY run to take (taken, or held back by its user's limits)", run_id)
        return None
    woken: list[str] | None = None  # read with the terminal commit (None: not reached)
    with running(claimed[0].run_id):  # every log line of this worker until the run ends names it
        try:
            announced = announce or claimed[0].run_id != run_id
            status, woken = _execute_run(ctx, owner, claimed, heard_since, announced)
            return status
        finally:
            # The run ended (or went back to READY): a run of the same user that a limit held back
            # may go now. After the terminal commit, as every wake-up.
            wake_user(ctx, claimed[0].user_id, woken)


def _execute_run(
    ctx: WorkerContext,
    owner: str,
    claimed: tuple[RunSpec, dict[str, Any], int],
    heard_since: int | None,
    announce: bool,
) -> tuple[str | None, list[str] | None]:
    """(the run's terminal status, the runs to wake); (None, None) if it went back to READY."""
    spec, base_stats, generation = claimed
    run_id = spec.run_id
    began = time.monotonic()
    ran = instruments()
    ran.runs_started.labels(spec.origin).inc()
    ran.run_queue_wait.observe(_waited_s(spec.started_at))
    runs_log.info("run started", extra={"fields": {"origin": spec.origin, "actor": spec.actor_name}})
    if announce:
        try:
            publish_run_started(ctx.redis, ctx.settings.redis_prefix, run_id)
        except RedisError as exc:  # a start waiting for the claim reads SQL when its wait ends
            log.warning("could not publish run-started for run %s: %s", run_id, exc)
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
    reboots = RebootSignal(generation)
    abort = AbortWatch(settings.redis_url, settings.redis_prefix, ctx.db, run_id, reboots)
    abort.start(heard_since)  # the claim read the run: SQL again only if a message may have been missed
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
            if events is None:  # a callable run metamorphed into a process actor
                events = _events(ctx, attempt)
            if restarts.count:
                # Started again: the SDK reads what the run has charged so far from its environment.
                attempt = replace(attempt, charged_event_counts=_charged(ctx, run_id))
            outcome, message, started = _attempt(
                ctx, attempt, run_log, timing_out, abort, events, meter, live_stats, reboots
            )
            if _rebooting(outcome, abort, reboots):
                restarts.rebooted(_respec(ctx, run_id, attempt, run_log))
                continue
            if outcome.rebooted:  # an abort came while the actor was stopped for its reboot
                outcome = replace(outcome, aborted=True)
            if not restarts.should_restart(outcome, started, abort):
                break
            restarts.restart(run_log, message or outcome_status(outcome)[1])
            _write_stats(ctx, run_id, base_stats | meter.stats() | {"restartCount": restarts.count})
    finally:
        lease.close()
        abort.close()
        reboots.close()
        if events is not None:
            events.close()
    outcome = replace(outcome, stats=base_stats | outcome.stats | {"restartCount": restarts.count})
    if outcome.worker_stopped:
        if hand_back(ctx, run_id, owner, spec.options, outcome.stats, run_log):
            return None, None
        message = STOPPED.format(grace_s=settings.worker_stop_grace_s)
    memory_mbytes = int(spec.options["memoryMbytes"])
    ended, woken = finalize(
        ctx, run_id, spec.user_id, owner, outcome, message, memory_mbytes=memory_mbytes, log=run_log
    )
    status = ended.value
    ran.runs_finished.labels(status, spec.origin).inc()
    ran.run_duration.labels(status).observe(time.monotonic() - began)
    runs_log.info("run finished", extra={"fields": {"status": status}})
    return status, woken


def _attempt(
    ctx: WorkerContext,
    spec: RunSpec,
    run_log: LogWriter,
    timing_out: Callable[[], None],
    abort: AbortWatch,
    events: RunEvents | None,
    meter: Meter,
    on_sample: Callable[[], None],
    reboots: RebootSignal,
) -> tuple[RunOutcome, str | None, bool]:
    """Start the actor under its memory limit and supervise it: (outcome, message, whether it started)."""
    settings = ctx.settings
    memory_mbytes = int(spec.options["memoryMbytes"])
    try:
        standby = _standby(spec, memory_mbytes)
        limit = standby.limit
        readiness = None
        child = None
        try:
            # An Actor Standby run: its web server on a port of the standby range, probed until ready.
            web_port = standby_port(settings) if _serves_standby(spec) else None
            child = _spawn(ctx, spec, standby, events, run_log, abort, web_port)
            if web_port is not None:
                uid = actor_uid(child.sandboxed, standby.slot.uid if standby.slot else None)
                readiness = Readiness(ctx.db, ctx.redis, settings, spec.run_id, web_port, uid)
                readiness.start()
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
                reboot=reboots,
            )
        finally:
            if readiness is not None:
                readiness.stop()
            standbys().retire(standby, child)
    except Exception as exc:  # the actor could not even start: the run fails, the worker goes on
        run_log.line("[greenroom] The actor could not be started:\n" + traceback.format_exc())
        run_log.flush()
        return RunOutcome(exit_code=1, stats=meter.stats()), f"The actor could not be started: {exc}", False
    if outcome.out_of_memory:
        return outcome, f"The Actor ran out of memory (limit {memory_mbytes} MB)", True
    return outcome, None, True


def _callable_key(spec: RunSpec) -> tuple[str, str]:
    """Which runs may share a callable's process: the same user's, of the same callable."""
    return spec.user_id, spec.source["callable"]


def _standby(spec: RunSpec, memory_mbytes: int) -> Standby:
    """The attempt's standby, under the run's memory cap: a callable's process that stayed after a
    run of the same key if there is one and the cap is no lower than its last run's (below what the
    process holds, a cgroup would reclaim or kill), else a new one."""
    kind = kind_of(spec)
    cap = memory_mbytes * 1024 * 1024
    standby = standbys().take(kind, _callable_key(spec) if kind == "callable" else None)
    if standby.stayed and cap < standby.limit.limit_bytes:
        standby.close()
        standby = standbys().take(kind)
    try:
        standby.limit.apply(cap)
    except BaseException:
        standby.close()
        raise
    return standby


def _serves_standby(spec: RunSpec) -> bool:
    """A run Actor Standby started, of an actor that is a program (a callable serves no port)."""
    return spec.origin == STANDBY_ORIGIN and spec.source["sourceType"] != "PYTHON_CALLABLE"


def _rebooting(outcome: RunOutcome, abort: AbortWatch, reboots: RebootSignal) -> bool:
    """Whether the run was rebooted or metamorphed (SQL says so) and is to start again: not when it is
    aborting (its lease lost too), timed out or its worker is stopping. An actor that ended by itself
    after asking for its reboot, before the message came, is started again as well."""
    if outcome.timed_out or outcome.aborted or outcome.worker_stopped or pending(abort.fileno()):
        return False
    try:
        if not abort.caught_up():
            abort.check()  # the generation now in SQL (and an abort that came meanwhile)
    except SQLAlchemyError:
        log.warning("could not read run %s after its attempt", abort.run_id, exc_info=True)
    return reboots.take() and not pending(abort.fileno())


def _respec(ctx: WorkerContext, run_id: str, before: RunSpec, run_log: LogWriter) -> RunSpec:
    """The run's spec as SQL holds it now (a metamorph's actor, build and input key), same token."""
    with ctx.db.begin() as connection:
        spec = read_spec(connection, run_id, before.token)[0]
    announce(run_log, before, spec)
    return spec


# While a run goes, its stats in SQL are at most this old (memCurrentBytes, cpuCurrentUsage...).
_LIVE_STATS_INTERVAL_S = 5.0


def _write_stats(ctx: WorkerContext, run_id: str, stats: dict[str, Any]) -> None:
    with ctx.db.begin() as connection:
        connection.execute(transition_stmt(run_id, ACTIVE, stats=stats))
