"""execute_build: the RQ entry point for builds. Claim, make the build directory, finish, tag, publish.

Like execute_run: the claim is a compare-and-set (READY → RUNNING), so a job delivered twice builds
once; this process writes the terminal state, commits, and only then publishes (on the run-finished
channel, which wakes waiters by id). A successful build takes its tag unless a newer build has it.
"""

from __future__ import annotations

import logging
import socket
import time
import traceback
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update

from server.events import publish_run_finished
from server.input_schema import build_problem
from server.services.build_finish import finish_build
from server.statuses import RunStatus
from server.storage.db import SyncDatabase
from server.storage.leases import RENEW_BUILD
from server.storage.logs import BUILD_LOG
from server.storage.models import Build
from worker.abort import AbortWatch
from worker.builds.directory import build_key, prepare
from worker.builds.steps import BuildAborted, BuildFailed, BuildTimedOut, Steps, step_env
from worker.context import get_context
from worker.lease import Lease, lease_until
from worker.logs import LogWriter
from worker.sandbox import SandboxUnavailable, sandbox_for
from worker.webhooks.delivery import webhook_queue

log = logging.getLogger(__name__)

BUILDS = cast(Table, Build.__table__)
_CLAIM = (
    update(BUILDS)
    .where(BUILDS.c.id == bindparam("build_id"), BUILDS.c.status == RunStatus.READY.value)
    .values(
        status=RunStatus.RUNNING.value,
        lease_expires_at=bindparam("until", type_=BUILDS.c.lease_expires_at.type),
    )
)
_GET = select(BUILDS).where(BUILDS.c.id == bindparam("build_id"))


class BuildAbortWatch(AbortWatch):
    """AbortWatch on a build: the same channel (by id), the build's row in SQL; always immediate."""

    def __init__(self, redis_url: str, prefix: str, db: SyncDatabase, build_id: str):
        super().__init__(redis_url, prefix, db, build_id)
        self._build_id = build_id

    def check(self) -> None:
        """The build's row, not a run's: ABORTING fires the abort (builds are never rebooted)."""
        with self._db.begin() as connection:
            status = connection.execute(
                select(BUILDS.c.status).where(BUILDS.c.id == self._build_id)
            ).scalar_one_or_none()
        if status == RunStatus.ABORTING.value:
            self.fire()

    def graceful(self) -> bool:
        return False


def execute_build(build_id: str) -> str | None:
    """Make one build's directory and end the build. A build that is not READY is left alone."""
    ctx = get_context()
    with ctx.db.begin() as connection:
        claim = {"build_id": build_id, "until": lease_until(ctx.settings.run_lease_s)}
        if connection.execute(_CLAIM, claim).rowcount != 1:
            log.info("build %s is not READY; skipping", build_id)
            return None
        row = dict(connection.execute(_GET, {"build_id": build_id}).one()._mapping)
    settings = ctx.settings
    build_log = LogWriter(ctx.db, build_id, settings.log_max_chars, table=BUILD_LOG)
    abort = BuildAbortWatch(settings.redis_url, settings.redis_prefix, ctx.db, build_id)
    abort.start()
    # As for runs: a dead worker's build is failed by the sweeper; a lost lease stops this build.
    lease = Lease(ctx.db, RENEW_BUILD, {"build_id": build_id}, settings.run_lease_s, abort.fire)
    lease.start()
    started = time.monotonic()
    source: dict[str, Any] = dict(row["source"])
    use_cache = (row["options"] or {}).get("useCache") is not False
    try:
        build_log.line(
            f"[greenroom] Build {row['build_number']} of version {row['version_number']} "
            f"on worker {socket.gethostname()}."
        )
        if (problem := build_problem(source)) is not None:  # Apify's rules for the input schema
            raise BuildFailed(problem)
        steps = Steps(
            build_log,
            step_env(source, settings.secrets_key),
            started + settings.build_timeout_s,
            abort.fileno(),
            sandbox=sandbox_for(settings),
            owner=row["user_id"],
        )
        key = build_key(build_id, source, use_cache, row["user_id"])
        _, cached = prepare(source, key, settings.builds_dir, steps)
        if cached:
            build_log.line("[greenroom] The files did not change since an earlier build: reusing its result.")
        build_log.line("[greenroom] Build succeeded.")
        status = RunStatus.SUCCEEDED
    except BuildTimedOut:
        build_log.line(f"[greenroom] The build reached its timeout of {settings.build_timeout_s:g} seconds.")
        status = RunStatus.TIMED_OUT
    except BuildAborted:
        build_log.line("[greenroom] The build was aborted.")
        status = RunStatus.ABORTED
    except (BuildFailed, SandboxUnavailable) as exc:
        build_log.line(f"[greenroom] Build failed: {exc}")
        status = RunStatus.FAILED
    except Exception:
        build_log.line("[greenroom] Build failed:\n" + traceback.format_exc())
        status = RunStatus.FAILED
    finally:
        lease.close()
        abort.close()
    build_log.flush()
    duration_s = time.monotonic() - started
    stats = {"durationMillis": int(duration_s * 1000), "runTimeSecs": round(duration_s, 3), "computeUnits": 0}
    final = finish_build(ctx.db, webhook_queue(ctx), row, status, stats)
    # Committed: now wake the waiters.
    publish_run_finished(ctx.redis, settings.redis_prefix, build_id)
    return final.value if final is not None else None
