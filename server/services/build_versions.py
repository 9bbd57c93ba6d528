"""Making a version's builds and finding the build a run uses.

Every new or changed version makes a build. A PYTHON_CALLABLE build has nothing to install: it
succeeds at once and takes its tag. A SOURCE_FILES build is READY and queued for a worker (after the
caller's commit, see server/services/builds.py); it takes its tag when it succeeds, and until it
ends it is the tag's pending build, which runs of the tag use (resolve_build). This module also
holds lock_actor, which every change to an actor's versions, tags or builds takes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.input_schema import build_problem
from server.statuses import RunStatus
from server.storage.ids import iso, utcnow
from server.storage.models import Actor, Build, BuildLogChunk
from server.storage.rows import ActorView
from server.webhooks.events import BUILD_CREATED, BUILD_EVENTS, fire_build

# The version fields a build records as its source (server/services/versions.py compares them too).
SNAPSHOT_KEYS = (
    "versionNumber",
    "sourceType",
    "sourceFiles",
    "callable",
    "startCommand",
    "envVars",
    "applyEnvVarsToBuild",
)
# session.info key: ids of the builds a transaction made, to enqueue once it commits.
NEW_BUILDS = "greenroom.new_builds"


@dataclass(frozen=True)
class BuildRequest:
    """How a build was asked for (POST .../builds); a version change makes one with the defaults."""

    tag: str | None = None  # None: the version's buildTag
    use_cache: bool = True
    beta_packages: bool = False
    origin: str = "API"
    client_ip: str | None = None
    user_agent: str | None = None


async def build_version(
    session: AsyncSession, actor: Actor, version: dict[str, Any], request: BuildRequest | None = None
) -> Build:
    """A new build of a version (call with the actor locked, or new: build numbers are counted)."""
    request = request or BuildRequest()
    number = version["versionNumber"]
    count_stmt = select(func.count()).where(Build.act_id == actor.id, Build.version_number == number)
    previous = (await session.execute(count_stmt)).scalar_one()
    now = utcnow()
    tag = request.tag or version.get("buildTag") or "latest"
    at_once = version["sourceType"] == "PYTHON_CALLABLE"  # the worker imports it: nothing to build
    source = {k: version[k] for k in SNAPSHOT_KEYS if k in version}
    # A callable's version may carry files too (its input schema): checked here, as a worker would.
    problem = build_problem(source) if at_once else None
    done = RunStatus.FAILED if problem else RunStatus.SUCCEEDED
    build = Build(
        act_id=actor.id,
        user_id=actor.user_id,
        version_number=number,
        build_number=f"{number}.{previous + 1}",
        status=(done if at_once else RunStatus.READY).value,
        source=source,
        tag=tag,
        options={"useCache": request.use_cache, "betaPackages": request.beta_packages},
        stats={},
        origin=request.origin,
        client_ip=request.client_ip,
        user_agent=request.user_agent,
        started_at=now,
        finished_at=now if at_once else None,
    )
    session.add(build)
    await session.flush()
    pending = dict(actor.pending_builds)
    if problem:
        session.add(
            BuildLogChunk(
                build_id=build.id, seq=0, content=f"{iso(now)} [greenroom] Build failed: {problem}\n"
            )
        )
    elif at_once:
        pending.pop(tag, None)  # this one is newer than any build of the tag still in progress
        actor.tagged_builds = dict(actor.tagged_builds) | {
            tag: {"buildId": build.id, "buildNumber": build.build_number, "finishedAt": iso(now)}
        }
    else:
        pending[tag] = {"buildId": build.id, "buildNumber": build.build_number}
        session.info.setdefault(NEW_BUILDS, []).append(build.id)
    actor.pending_builds = pending
    await fire_build(session, BUILD_CREATED, build.id, build)
    if at_once:
        await fire_build(session, BUILD_EVENTS[done], build.id, build)
    return build


@dataclass(frozen=True)
class BuildRef:
    id: str
    number: str


def resolve_build(session: Session, actor: ActorView, tag_or_number: str) -> BuildRef:
    """The build a run uses: the tag's build in progress, else the tag's build, else a build number;
    404 unknown-build-tag. The newest build of a tag wins, so a run right after a version change
    (or right after the actor is created) runs the new code; the worker builds it if it must.
    Sync, as the run start's transaction is (an async session calls it through run_sync)."""
    tagged = actor.pending_builds.get(tag_or_number) or actor.tagged_builds.get(tag_or_number)
    if tagged:  # both record the id and number: no query
        return BuildRef(tagged["buildId"], tagged["buildNumber"])
    stmt = select(Build.id, Build.build_number).where(
        Build.act_id == actor.id, Build.build_number == tag_or_number
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        raise NotFound(
            f'Build with tag "{tag_or_number}" was not found. Has the Actor been built already?',
            error_type="unknown-build-tag",
        )
    return BuildRef(row.id, row.build_number)


async def lock_actor(session: AsyncSession, actor: Actor) -> None:
    """Take the actor's row for this transaction, then re-read it: its versions and tags are JSON
    rewritten whole and build numbers are counted, so two changes must not interleave.

    A no-op UPDATE rather than SELECT ... FOR UPDATE: it locks on SQLite too (the first write takes
    the database's write lock, and SELECTs before it run outside any transaction), and on PostgreSQL
    it takes FOR NO KEY UPDATE, which does not hold up run starts (their foreign key takes KEY SHARE).
    """
    table = cast(Table, Actor.__table__)
    touch = update(table).where(table.c.id == actor.id).values(modified_at=table.c.modified_at)
    await session.execute(touch)
    await session.refresh(actor)
