"""Actors and their builds. Until builds install dependencies, each version gets one build at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import InvalidInput, NameNotUnique, NotFound
from server.services.validation import check_name, check_run_options, check_version
from server.settings import Settings
from server.statuses import RunStatus
from server.storage.ids import iso, utcnow
from server.storage.models import Actor, Build, User

_SNAPSHOT_KEYS = ("versionNumber", "sourceType", "sourceFiles", "callable", "startCommand", "envVars")


async def create_actor(session: AsyncSession, settings: Settings, user: User, body: dict[str, Any]) -> Actor:
    versions = body.get("versions")
    if not isinstance(versions, list) or not versions:
        raise InvalidInput("An actor must specify at least one version of the source code in 'versions'.")
    checked = [check_version(v) for v in versions]
    if len({v["versionNumber"] for v in checked}) != len(checked):
        raise InvalidInput("Version numbers must be unique.")
    run_options = {
        "build": "latest",
        "timeoutSecs": settings.default_run_timeout_s,
        "memoryMbytes": settings.default_memory_mbytes,
    } | check_run_options(body.get("defaultRunOptions"), settings, "defaultRunOptions")
    actor = Actor(
        user_id=user.id,
        name=check_name(body.get("name"), "Actor"),
        title=body.get("title"),
        description=body.get("description"),
        is_public=bool(body.get("isPublic", False)),
        default_run_options=run_options,
        versions=checked,
        tagged_builds={},
    )
    session.add(actor)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise NameNotUnique("actor-name-not-unique") from exc
    for version in checked:
        await build_version(session, actor, version)
    return actor


async def build_version(session: AsyncSession, actor: Actor, version: dict[str, Any]) -> Build:
    """Snapshot a version as a finished build and tag it (latest unless the version says otherwise)."""
    number = version["versionNumber"]
    count_stmt = select(func.count()).where(Build.act_id == actor.id, Build.version_number == number)
    previous = (await session.execute(count_stmt)).scalar_one()
    now = utcnow()
    build = Build(
        act_id=actor.id,
        user_id=actor.user_id,
        version_number=number,
        build_number=f"{number}.{previous + 1}",
        status=RunStatus.SUCCEEDED.value,
        source={k: version[k] for k in _SNAPSHOT_KEYS if k in version},
        started_at=now,
        finished_at=now,
    )
    session.add(build)
    await session.flush()
    tag = version["buildTag"]
    actor.tagged_builds = dict(actor.tagged_builds) | {
        tag: {"buildId": build.id, "buildNumber": build.build_number, "finishedAt": iso(now)}
    }
    return build


@dataclass(frozen=True)
class BuildRef:
    id: str
    number: str


async def resolve_build(session: AsyncSession, actor: Actor, tag_or_number: str) -> BuildRef:
    """The build a run uses: a tag from taggedBuilds, else a build number; 404 unknown-build-tag."""
    tagged = actor.tagged_builds.get(tag_or_number)
    if tagged:  # taggedBuilds records the id and number: no query
        return BuildRef(tagged["buildId"], tagged["buildNumber"])
    stmt = select(Build.id, Build.build_number).where(
        Build.act_id == actor.id, Build.build_number == tag_or_number
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise NotFound(
            f'Build with tag "{tag_or_number}" was not found. Has the Actor been built already?',
            error_type="unknown-build-tag",
        )
    return BuildRef(row.id, row.build_number)
