"""Actors: create, update (its fields, versions and tags) and delete one.

An actor's versions are checked and saved by server/services/versions.py, which builds the new or
changed ones (server/services/build_versions.py); its taggedBuilds are patched here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import ApiError, InvalidInput, NameNotUnique
from server.services.build_versions import build_version, lock_actor
from server.services.pricing import check_pricing_infos
from server.services.validation import (
    TITLE_MAX_CHARS,
    check_actor_run_options,
    check_bool,
    check_build_tag,
    check_name,
    check_text,
)
from server.services.versions import check_versions, save_versions, stored_versions
from server.settings import Settings
from server.standby.config import check_actor_standby
from server.statuses import RunStatus
from server.storage.ids import iso, utcnow
from server.storage.models import Actor, ApiToken, Build, Dataset, KeyValueStore, RequestQueue, Run, User


async def create_actor(session: AsyncSession, settings: Settings, user: User, body: dict[str, Any]) -> Actor:
    versions = body.get("versions")
    if not isinstance(versions, list) or not versions:
        raise InvalidInput("An actor must specify at least one version of the source code in 'versions'.")
    checked = stored_versions(check_versions(versions, []), settings)
    run_options = {
        "build": "latest",
        "timeoutSecs": settings.default_run_timeout_s,
        "memoryMbytes": settings.default_memory_mbytes,
    } | check_actor_run_options(body.get("defaultRunOptions"), settings)
    pricing_infos = check_pricing_infos(body.get("pricingInfos"))
    actor = Actor(
        user_id=user.id,
        name=check_name(body.get("name"), "Actor"),
        title=body.get("title"),
        description=body.get("description"),
        is_public=bool(body.get("isPublic", False)),
        default_run_options=run_options,
        versions=checked,
        pricing_infos=pricing_infos,
        actor_standby=check_actor_standby(body.get("actorStandby"), settings, None),
        tagged_builds={},
        pending_builds={},
    )
    session.add(actor)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise NameNotUnique("actor-name-not-unique") from exc
    for version in checked:
        await build_version(session, actor, version)
    return actor


# --- updates ------------------------------------------------------------------------------------------
# Everything below runs inside the caller's transaction and raises before its commit on bad input,
# so a rejected request writes nothing (builds made earlier in the same request roll back too).


async def patch_tagged_builds(session: AsyncSession, actor: Actor, raw: Any) -> None:
    """Apify's taggedBuilds patch: listed tags move to the given build, null removes a tag, others stay."""
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise InvalidInput("'taggedBuilds' must be an object of tag name to {buildId} or null.")
    tags, pending = dict(actor.tagged_builds), dict(actor.pending_builds)
    for tag, target in raw.items():
        check_build_tag(tag)
        if target is None:
            tags.pop(tag, None)
            pending.pop(tag, None)
            continue
        build_id = target.get("buildId") if isinstance(target, dict) else None
        if not isinstance(build_id, str) or "\x00" in build_id:
            raise InvalidInput(f"'taggedBuilds.{tag}' must be {{\"buildId\": ...}} or null.")
        stmt = select(Build).where(Build.id == build_id, Build.act_id == actor.id)
        build = (await session.execute(stmt)).scalar_one_or_none()
        if build is None:
            raise InvalidInput(f"'taggedBuilds.{tag}': the Actor has no build with ID {build_id!r}.")
        if build.status != RunStatus.SUCCEEDED.value:
            raise InvalidInput(f"'taggedBuilds.{tag}': build {build_id} has not succeeded ({build.status}).")
        pending.pop(tag, None)  # the user's choice, not a build still in progress, is the tag's now
        tags[tag] = {
            "buildId": build.id,
            "buildNumber": build.build_number,
            "finishedAt": iso(build.finished_at),
        }
    actor.tagged_builds = tags
    actor.pending_builds = pending


async def update_actor(session: AsyncSession, settings: Settings, actor: Actor, body: dict[str, Any]) -> None:
    """PUT /v2/acts/:id: only the fields in the body change. Fields Greenroom does not keep (seoTitle,
    categories...) are accepted and ignored."""
    await lock_actor(session, actor)
    if "name" in body:
        actor.name = check_name(body["name"], "Actor")
        try:  # now, before a later query's autoflush could raise it outside this try
            await session.flush()
        except IntegrityError as exc:
            raise NameNotUnique("actor-name-not-unique") from exc
    if "title" in body:
        actor.title = check_text(body["title"], "title", TITLE_MAX_CHARS)
    if "description" in body:
        actor.description = check_text(body["description"], "description")
    if "isPublic" in body:
        actor.is_public = check_bool(body["isPublic"], "isPublic")
    if "pricingInfos" in body:
        # The whole history, as sent: runs keep the entry they started with.
        actor.pricing_infos = check_pricing_infos(body["pricingInfos"])
    if "actorStandby" in body:
        actor.actor_standby = check_actor_standby(body["actorStandby"], settings, actor.actor_standby)
    options = check_actor_run_options(body.get("defaultRunOptions"), settings)
    if body.get("restartOnError") is not None and "restartOnError" not in options:
        # The deprecated top-level field, now part of defaultRunOptions.
        options["restartOnError"] = check_bool(body["restartOnError"], "restartOnError")
    if options:
        actor.default_run_options = dict(actor.default_run_options) | options
    if "versions" in body:
        await save_versions(session, actor, check_versions(body["versions"], actor.versions), settings)
    await patch_tagged_builds(session, actor, body.get("taggedBuilds"))
    actor.modified_at = utcnow()


async def delete_actor(session: AsyncSession, actor: Actor) -> None:
    """The actor with its builds, tasks, runs and their logs, plus the unnamed default storages of
    those runs. Named storages stay: the user made them, and may use them elsewhere."""
    await lock_actor(session, actor)
    active = [s.value for s in RunStatus if not s.is_terminal]
    busy_stmt = select(func.count()).where(Run.act_id == actor.id, Run.status.in_(active))
    if (await session.execute(busy_stmt)).scalar_one():
        raise ApiError(
            "The Actor has runs that have not finished yet; abort them or wait for them to end first.",
            error_type="cannot-remove-running-run",
        )
    runs = select(Run.id).where(Run.act_id == actor.id).scalar_subquery()
    for model in (KeyValueStore, Dataset, RequestQueue):
        # Their records and items go with them (ON DELETE CASCADE).
        await session.execute(delete(model).where(model.act_run_id.in_(runs), model.name.is_(None)))
    # Builds, tasks, runs and run logs cascade from the actor row.
    await session.execute(delete(ApiToken).where(ApiToken.run_id.in_(runs)))
    await session.execute(delete(Actor).where(Actor.id == actor.id))
