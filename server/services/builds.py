"""Builds: start one, find one, wait for one, abort one. Workers execute them (worker/builds/job.py).

A transaction that makes builds (a new or changed version, POST .../builds) records their ids in
its session (build_versions.NEW_BUILDS); `actor_change` enqueues them once it has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import NotFound
from server.events import publish_abort, publish_run_finished
from server.in_flight import wait_woken
from server.lifespan import AppState
from server.queue import enqueue_builds
from server.services.build_versions import NEW_BUILDS, BuildRequest, build_version, lock_actor
from server.services.resolve import get_actor
from server.services.versions import find_version
from server.services.webhooks import enqueue_dispatches_of
from server.statuses import RunStatus
from server.storage.ids import utcnow
from server.storage.models import Actor, Build, User
from server.webhooks.events import BUILD_EVENTS, fire_build


@contextlib.asynccontextmanager
async def actor_change(state: AppState) -> AsyncIterator[AsyncSession]:
    """A transaction that may make builds: they (and the webhook dispatches of their
    ACTOR.BUILD.CREATED) are queued for the workers after it commits."""
    async with state.db.transaction() as session:
        yield session
    await enqueue_builds(state.queue, list(session.info.get(NEW_BUILDS, ())))
    await enqueue_dispatches_of(state, session)


async def get_build(session: AsyncSession, user: User, build_id: str) -> Build:
    if "\x00" in build_id:
        raise NotFound("Actor build was not found")
    stmt = select(Build).where(Build.id == build_id, Build.user_id == user.id)
    build = (await session.execute(stmt)).scalar_one_or_none()
    if build is None:
        raise NotFound("Actor build was not found")
    return build


async def start_build(
    state: AppState, user: User, actor_ref: str, version_number: str, request: BuildRequest
) -> Build:
    """POST /v2/acts/:id/builds: a new build of the version, queued after the commit."""
    async with actor_change(state) as session:
        actor = await get_actor(session, user, actor_ref)
        await lock_actor(session, actor)
        version = find_version(actor, version_number)
        return await build_version(session, actor, version, request)


async def read_build(state: AppState, build_id: str) -> Build:
    async with state.db.read() as session:
        return (await session.execute(select(Build).where(Build.id == build_id))).scalar_one()


async def wait_for_build(state: AppState, build_id: str, timeout_s: float) -> Build:
    """The build once terminal, or as it stands when timeout_s has passed (not an error).

    Registered before the first read, so a finish committed in between wakes it (the worker
    publishes the build id on the run-finished channel after its commit).
    """
    with state.waiters.watch(build_id) as woken:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            build = await read_build(state, build_id)
            remaining = deadline - loop.time()
            if RunStatus(build.status).is_terminal or remaining <= 0:
                return build
            await wait_woken(woken, remaining)
            woken.clear()


ABORTABLE = (RunStatus.READY, RunStatus.RUNNING)


async def abort_build(state: AppState, build: Build) -> None:
    """READY → ABORTED at once; RUNNING → ABORTING, and the worker building it stops and ends it.

    Other statuses are left alone (Apify: "for builds with status FINISHED, FAILED, ABORTING and
    TIMED-OUT this call does nothing").
    """
    async with state.db.transaction() as session:
        never_started = await session.execute(
            update(Build)
            .where(Build.id == build.id, Build.status == RunStatus.READY.value)
            .values(status=RunStatus.ABORTED.value, finished_at=utcnow())
        )
        if never_started.rowcount == 1:  # type: ignore[attr-defined]
            await forget_pending(session, build)
            await fire_build(session, BUILD_EVENTS[RunStatus.ABORTED], build.id)
        else:
            await session.execute(
                update(Build)
                .where(Build.id == build.id, Build.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.ABORTING.value)
            )
    prefix = state.settings.redis_prefix
    if never_started.rowcount == 1:  # type: ignore[attr-defined]
        await anyio.to_thread.run_sync(publish_run_finished, state.redis, prefix, build.id)
        await enqueue_dispatches_of(state, session)
    else:
        await anyio.to_thread.run_sync(publish_abort, state.redis, prefix, build.id)


async def forget_pending(session: AsyncSession, build: Build) -> None:
    """A build that ended without success stops being its tag's pending build."""
    actor = (await session.execute(select(Actor).where(Actor.id == build.act_id))).scalar_one_or_none()
    if actor is None:
        return
    await lock_actor(session, actor)
    pending: dict[str, Any] = dict(actor.pending_builds)
    if build.tag is not None and (pending.get(build.tag) or {}).get("buildId") == build.id:
        del pending[build.tag]
        actor.pending_builds = pending
