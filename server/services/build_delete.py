"""DELETE /v2/actor-builds/:buildId, with Apify's refusals.

Refused (400, nothing written): a build not finished yet (`deleting-unfinished-build`: a worker is
building it, or it is queued), a build that a run not yet finished still needs (same type: its worker
reads the build when it starts), and the actor's default build (`deleting-default-build`: the build
that its default run option's tag, `latest` unless set, points at). Another tag that points at the
deleted build is removed with it, so no tag names a missing build. The build's log goes with it; its
directory on the workers is a cache keyed by content and is left to them.
"""

from __future__ import annotations

from sqlalchemy import delete, exists, select

from server.errors import ApiError, NotFound
from server.lifespan import AppState
from server.services.build_versions import lock_actor
from server.statuses import TERMINAL, RunStatus
from server.storage.models import Actor, Build, BuildLogChunk, Run

_TERMINAL = [s.value for s in TERMINAL]


def _refused(message: str, error_type: str) -> ApiError:
    return ApiError(message, status_code=400, error_type=error_type)


async def delete_build(state: AppState, build_id: str) -> None:
    async with state.db.transaction() as session:
        build = await session.get(Build, build_id)
        if build is None:
            raise NotFound("Actor build was not found")
        actor = (await session.execute(select(Actor).where(Actor.id == build.act_id))).scalar_one()
        await lock_actor(session, actor)  # tags and pending builds change under this lock only
        await session.refresh(build)
        if not RunStatus(build.status).is_terminal:
            raise _refused(
                f"The build {build.id} has not finished yet (status: {build.status}): abort it first.",
                "deleting-unfinished-build",
            )
        in_use = exists().where(Run.build_id == build.id, Run.status.not_in(_TERMINAL))
        if (await session.execute(select(in_use))).scalar():
            raise _refused(
                f"The build {build.id} is used by a run that has not finished yet.",
                "deleting-unfinished-build",
            )
        default_tag = str(actor.default_run_options.get("build") or "latest")
        tags = dict(actor.tagged_builds)
        is_default = build.build_number == default_tag  # the option may name a build number
        if is_default or (tags.get(default_tag) or {}).get("buildId") == build.id:
            raise _refused(
                f'The build {build.id} is the Actor\'s default build (tag "{default_tag}") '
                "and cannot be deleted.",
                "deleting-default-build",
            )
        kept = {tag: ref for tag, ref in tags.items() if (ref or {}).get("buildId") != build.id}
        if kept != tags:
            actor.tagged_builds = kept
        await session.execute(delete(BuildLogChunk).where(BuildLogChunk.build_id == build.id))
        await session.execute(delete(Build).where(Build.id == build.id))
