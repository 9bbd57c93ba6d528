"""The sweeper's part of Actor Standby: a ready standby run that has had no request in flight for
its actor's `idleTimeoutSecs` is aborted gracefully (the actor hears `aborting`, as on Apify when a
standby run times out), so the runs scale back down to none."""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, select

from server.events import publish_abort
from server.standby.activity import drain_if_idle
from server.standby.config import STANDBY_ORIGIN, StandbyConfig
from server.statuses import RunStatus
from server.storage.models import Actor, Run
from server.storage.runs import transition_stmt
from server.sweeper.context import SweepContext

log = logging.getLogger(__name__)

IDLE_MESSAGE = "The standby run had no requests for {idle_s} s (its actor's idleTimeoutSecs): stopping it"

_READY = (
    select(Run.id, Actor.actor_standby)
    .join(Actor, Actor.id == Run.act_id)
    .where(
        Run.status == RunStatus.RUNNING.value,
        Run.origin == STANDBY_ORIGIN,
        Run.standby_url.is_not(None),
        Run.queue_name == bindparam("queue"),
    )
)


def stop_idle(ctx: SweepContext) -> list[str]:
    """Abort (gracefully) every ready standby run of this deployment (its queue: the runs whose
    requests its Redis counts) idle for longer than its idle timeout."""
    prefix = ctx.settings.redis_prefix
    with ctx.db.begin() as connection:
        ready = connection.execute(_READY, {"queue": ctx.settings.queue_name}).all()
    stopped = []
    for run_id, stored in ready:
        idle_s = StandbyConfig.of(stored).idle_timeout_s
        if not drain_if_idle(ctx.redis, prefix, run_id, idle_s):
            continue
        with ctx.db.begin() as connection:
            moved = connection.execute(
                transition_stmt(
                    run_id,
                    [RunStatus.RUNNING],
                    status=RunStatus.ABORTING.value,
                    abort_gracefully=True,
                    # Terminal: the run's end keeps it, rather than saying only that it was aborted.
                    status_message=IDLE_MESSAGE.format(idle_s=idle_s),
                    is_status_message_terminal=True,
                )
            )
        if moved.rowcount == 1:  # committed: now its worker hears
            publish_abort(ctx.redis, prefix, run_id)
            stopped.append(run_id)
    return stopped
