"""execute_run: the only RQ entry point for runs. Claim, start, supervise, finalize, publish."""

from __future__ import annotations

import logging
import traceback
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select

from server.statuses import RunStatus
from server.storage.ids import hash_token, iso, new_id, new_token, utcnow
from server.storage.models import Actor, ApiToken, Build, User
from server.storage.runs import CLAIM, RUNS, transition_stmt
from worker.abort import AbortWatch
from worker.context import WorkerContext, get_context
from worker.finalize import finalize
from worker.logs import LogWriter
from worker.runners.base import RunOutcome, RunSpec
from worker.runners.inprocess import spawn_callable
from worker.runners.process import spawn_process
from worker.supervisor import Child, supervise

log = logging.getLogger(__name__)


_BUILDS, _ACTORS, _USERS, _TOKENS = (cast(Table, model.__table__) for model in (Build, Actor, User, ApiToken))
_SPEC = (
    select(RUNS, _BUILDS.c.source, _ACTORS.c.name.label("actor_name"), _USERS.c.username)
    .join(_BUILDS, _BUILDS.c.id == RUNS.c.build_id)
    .join(_ACTORS, _ACTORS.c.id == RUNS.c.act_id)
    .join(_USERS, _USERS.c.id == RUNS.c.user_id)
    .where(RUNS.c.id == bindparam("run_id"))
)
_INSERT_TOKEN = insert(_TOKENS)


def _claim(ctx: WorkerContext, run_id: str) -> tuple[RunSpec, dict[str, Any]] | None:
    """READY -> RUNNING and a token for the run, in one transaction; None if someone else has it."""
    with ctx.db.begin() as connection:
        if connection.execute(CLAIM, {"run_id": run_id}).rowcount != 1:
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
    )
    return spec, dict(run["stats"])


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
        with ctx.db.begin() as connection:
            connection.execute(
                transition_stmt(run_id, [RunStatus.RUNNING], status=RunStatus.TIMING_OUT.value)
            )
        run_log.line(
            f"[greenroom] The run has reached its timeout of {spec.timeout_s:g} seconds; stopping it."
        )

    settings = ctx.settings
    message = None
    # Listening before the actor starts: an abort asked for from now on is heard (or read from SQL).
    abort = AbortWatch(settings.redis_url, settings.redis_prefix, ctx.db, run_id)
    abort.start()
    try:
        child = _spawn(ctx, spec)
        outcome = supervise(
            child, run_log, spec.timeout_s, settings.kill_grace_s, timing_out, abort, settings.abort_grace_s
        )
    except Exception as exc:  # the actor could not even start: the run fails, the worker goes on
        run_log.line("[greenroom] The actor could not be started:\n" + traceback.format_exc())
        run_log.flush()
        outcome = RunOutcome(exit_code=1)
        message = f"The actor could not be started: {exc}"
    finally:
        abort.close()
    outcome = replace(outcome, stats=base_stats | outcome.stats)
    return finalize(ctx, run_id, outcome, message).value
