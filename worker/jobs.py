"""execute_run: the only RQ entry point for runs. Claim, start, supervise, finalize, publish."""

from __future__ import annotations

import logging
import traceback

from sqlalchemy import select

from server.statuses import RunStatus
from server.storage.ids import hash_token, iso, new_token
from server.storage.models import Actor, ApiToken, Build, Run, User
from server.storage.runs import claim_stmt, transition_stmt
from worker.context import WorkerContext, get_context
from worker.finalize import finalize
from worker.logs import LogWriter
from worker.runners.base import RunOutcome, RunSpec
from worker.runners.inprocess import spawn_callable
from worker.runners.process import spawn_process
from worker.supervisor import Child, supervise

log = logging.getLogger(__name__)


def _claim(ctx: WorkerContext, run_id: str) -> tuple[RunSpec, dict[str, object]] | None:
    """READY -> RUNNING and a token for the run, in one transaction; None if someone else has it."""
    with ctx.db.transaction() as session:
        if session.execute(claim_stmt(run_id)).rowcount != 1:  # type: ignore[attr-defined]
            return None
        run, build, actor, user = session.execute(
            select(Run, Build, Actor, User)
            .join(Build, Build.id == Run.build_id)
            .join(Actor, Actor.id == Run.act_id)
            .join(User, User.id == Run.user_id)
            .where(Run.id == run_id)
        ).one()
        token = new_token()
        session.add(ApiToken(user_id=run.user_id, token_hash=hash_token(token), run_id=run.id))
        spec = RunSpec(
            run_id=run.id,
            user_id=run.user_id,
            username=user.username,
            act_id=run.act_id,
            actor_name=actor.name,
            actor_task_id=run.actor_task_id,
            build_id=build.id,
            build_number=build.build_number,
            source=dict(build.source),
            options=dict(run.options),
            default_key_value_store_id=run.default_key_value_store_id,
            default_dataset_id=run.default_dataset_id,
            default_request_queue_id=run.default_request_queue_id,
            started_at=iso(run.started_at) or "",
            token=token,
        )
        return spec, dict(run.stats)


def _spawn(ctx: WorkerContext, spec: RunSpec) -> Child:
    if spec.source["sourceType"] == "PYTHON_CALLABLE":
        return spawn_callable(spec)
    return spawn_process(spec, ctx.settings)


def execute_run(run_id: str) -> str | None:
    """Run one actor run to its end. A run that is not READY (a duplicate delivery) is left alone."""
    ctx = get_context()
    claimed = _claim(ctx, run_id)
    if claimed is None:
        log.info("run %s is not READY; skipping", run_id)
        return None
    spec, base_stats = claimed
    run_log = LogWriter(ctx.db, run_id, ctx.settings.log_max_chars)

    def timing_out() -> None:
        with ctx.db.transaction() as session:
            session.execute(transition_stmt(run_id, [RunStatus.RUNNING], status=RunStatus.TIMING_OUT.value))
        run_log.line(
            f"[greenroom] The run has reached its timeout of {spec.timeout_s:g} seconds; stopping it."
        )

    message = None
    try:
        child = _spawn(ctx, spec)
        outcome = supervise(child, run_log, spec.timeout_s, ctx.settings.kill_grace_s, timing_out)
    except Exception as exc:  # the actor could not even start: the run fails, the worker goes on
        run_log.line("[greenroom] The actor could not be started:\n" + traceback.format_exc())
        run_log.flush()
        outcome = RunOutcome(exit_code=1)
        message = f"The actor could not be started: {exc}"
    outcome = RunOutcome(outcome.exit_code, outcome.timed_out, base_stats | outcome.stats)
    return finalize(ctx, run_id, outcome, message).value
