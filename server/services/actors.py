"""Actors, their versions, and the builds they make.

Every new or changed version makes a build. A PYTHON_CALLABLE build has nothing to install: it
succeeds at once and takes its tag. A SOURCE_FILES build is READY and queued for a worker (after the
caller's commit, see server/services/builds.py); it takes its tag when it succeeds, and until it
ends it is the tag's pending build, which runs of the tag use (resolve_build).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import ApiError, InvalidInput, NameNotUnique, NotFound
from server.services.validation import (
    TITLE_MAX_CHARS,
    check_actor_run_options,
    check_bool,
    check_build_tag,
    check_env_var,
    check_env_vars,
    check_name,
    check_text,
    check_version,
)
from server.settings import Settings
from server.statuses import RunStatus
from server.storage.ids import iso, utcnow
from server.storage.models import Actor, ApiToken, Build, Dataset, KeyValueStore, Run, User
from server.webhook_events import BUILD_CREATED, BUILD_EVENTS, fire_build

_SNAPSHOT_KEYS = (
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


async def create_actor(session: AsyncSession, settings: Settings, user: User, body: dict[str, Any]) -> Actor:
    versions = body.get("versions")
    if not isinstance(versions, list) or not versions:
        raise InvalidInput("An actor must specify at least one version of the source code in 'versions'.")
    checked = check_versions(versions, [])
    run_options = {
        "build": "latest",
        "timeoutSecs": settings.default_run_timeout_s,
        "memoryMbytes": settings.default_memory_mbytes,
    } | check_actor_run_options(body.get("defaultRunOptions"), settings)
    actor = Actor(
        user_id=user.id,
        name=check_name(body.get("name"), "Actor"),
        title=body.get("title"),
        description=body.get("description"),
        is_public=bool(body.get("isPublic", False)),
        default_run_options=run_options,
        versions=checked,
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
    build = Build(
        act_id=actor.id,
        user_id=actor.user_id,
        version_number=number,
        build_number=f"{number}.{previous + 1}",
        status=(RunStatus.SUCCEEDED if at_once else RunStatus.READY).value,
        source={k: version[k] for k in _SNAPSHOT_KEYS if k in version},
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
    if at_once:
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
        await fire_build(session, BUILD_EVENTS[RunStatus.SUCCEEDED], build.id, build)
    return build


@dataclass(frozen=True)
class BuildRef:
    id: str
    number: str


async def resolve_build(session: AsyncSession, actor: Actor, tag_or_number: str) -> BuildRef:
    """The build a run uses: the tag's build in progress, else the tag's build, else a build number;
    404 unknown-build-tag. The newest build of a tag wins, so a run right after a version change
    (or right after the actor is created) runs the new code; the worker builds it if it must."""
    tagged = actor.pending_builds.get(tag_or_number) or actor.tagged_builds.get(tag_or_number)
    if tagged:  # both record the id and number: no query
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


# --- updates ------------------------------------------------------------------------------------------
# Everything below runs inside the caller's transaction and raises before its commit on bad input,
# so a rejected request writes nothing (builds made earlier in the same request roll back too).


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


def _needs_build(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """A new or changed source (files, callable, start command, env vars) or a new tag: build it, so
    the next run of the tag runs what the version now says."""
    if old is None:
        return True
    return _comparable(old) != _comparable(new)


def _comparable(version: dict[str, Any]) -> dict[str, Any]:
    # Env vars as check_env_vars stores them: a version created without any equals one with [].
    env_vars = [
        {"name": v.get("name"), "value": v.get("value", ""), "isSecret": bool(v.get("isSecret"))}
        for v in version.get("envVars") or []
    ]
    snapshot = {k: version.get(k) for k in _SNAPSHOT_KEYS}
    return snapshot | {"envVars": env_vars, "buildTag": version.get("buildTag")}


async def save_versions(session: AsyncSession, actor: Actor, versions: list[dict[str, Any]]) -> None:
    """Store checked versions in place of the actor's; build the ones that are new or changed."""
    old = {v["versionNumber"]: v for v in actor.versions}
    for version in versions:
        if _needs_build(old.get(version["versionNumber"]), version):
            await build_version(session, actor, version)
    actor.versions = list(versions)  # a new list: SQLAlchemy does not see in-place JSON changes
    actor.modified_at = utcnow()


def check_versions(raw: Any, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A whole `versions` array (PUT /v2/acts/:id): at least one, unique numbers, env vars checked."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("An actor must specify at least one version of the source code in 'versions'.")
    old = {v["versionNumber"]: v for v in previous}
    checked = []
    for version in raw:
        one = check_version(version)
        one["envVars"] = check_env_vars(one.get("envVars"), old.get(one["versionNumber"], {}).get("envVars"))
        checked.append(one)
    if len({v["versionNumber"] for v in checked}) != len(checked):
        raise InvalidInput("Version numbers must be unique.")
    return checked


def too_few_versions() -> ApiError:
    # Apify's type for removing an actor's last version (an actor needs at least one to run).
    return ApiError("The Actor must have at least 1 versions", status_code=403, error_type="too-few-versions")


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
    categories, pricingInfos...) are accepted and ignored."""
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
    options = check_actor_run_options(body.get("defaultRunOptions"), settings)
    if body.get("restartOnError") is not None and "restartOnError" not in options:
        # The deprecated top-level field, now part of defaultRunOptions.
        options["restartOnError"] = check_bool(body["restartOnError"], "restartOnError")
    if options:
        actor.default_run_options = dict(actor.default_run_options) | options
    if "versions" in body:
        await save_versions(session, actor, check_versions(body["versions"], actor.versions))
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
    for model in (KeyValueStore, Dataset):
        # Their records and items go with them (ON DELETE CASCADE).
        await session.execute(delete(model).where(model.act_run_id.in_(runs), model.name.is_(None)))
    # Builds, tasks, runs and run logs cascade from the actor row.
    await session.execute(delete(ApiToken).where(ApiToken.run_id.in_(runs)))
    await session.execute(delete(Actor).where(Actor.id == actor.id))


# --- versions and their env vars ----------------------------------------------------------------------


def find_version(actor: Actor, number: str) -> dict[str, Any]:
    for version in actor.versions:
        if version["versionNumber"] == number:
            return version
    raise NotFound("Actor version was not found")


async def add_version(session: AsyncSession, actor: Actor, raw: Any) -> dict[str, Any]:
    await lock_actor(session, actor)
    if not isinstance(raw, dict) or "versionNumber" not in raw:
        raise InvalidInput("A version needs 'versionNumber' (MAJOR.MINOR) and 'sourceType'.")
    version = check_version(raw)
    version["envVars"] = check_env_vars(version.get("envVars"))
    if any(v["versionNumber"] == version["versionNumber"] for v in actor.versions):
        # Apify answers 403 with this type (apify-client-python's integration tests rely on it).
        raise ApiError(
            "Version with this number already exists", status_code=403, error_type="version-already-exists"
        )
    await save_versions(session, actor, [*actor.versions, version])
    return version


async def update_version(session: AsyncSession, actor: Actor, number: str, raw: Any) -> dict[str, Any]:
    """Fields in the body replace the version's; the others stay (Apify's PUT .../versions/:v)."""
    await lock_actor(session, actor)
    old = find_version(actor, number)
    if not isinstance(raw, dict):
        raise InvalidInput("The version must be a JSON object.")
    if raw.get("versionNumber", number) != number:
        raise InvalidInput("'versionNumber' cannot be changed; create a new version instead.")
    version = check_version({**old, **raw, "versionNumber": number})
    version["envVars"] = check_env_vars(version.get("envVars"), old.get("envVars"))
    await save_versions(session, actor, [version if v is old else v for v in actor.versions])
    return version


async def delete_version(session: AsyncSession, actor: Actor, number: str) -> None:
    await lock_actor(session, actor)
    old = find_version(actor, number)
    if len(actor.versions) == 1:
        raise too_few_versions()
    # Its builds stay: runs made from them, and tags pointing at them, keep working.
    actor.versions = [v for v in actor.versions if v is not old]
    actor.modified_at = utcnow()


def find_env_var(version: dict[str, Any], name: str) -> dict[str, Any]:
    for var in version.get("envVars") or []:
        if var.get("name") == name:
            return dict(var)
    raise NotFound("Environment variable was not found")


async def _save_env_vars(
    session: AsyncSession, actor: Actor, version: dict[str, Any], env_vars: list[dict[str, Any]]
) -> None:
    if len({v["name"] for v in env_vars}) != len(env_vars):
        raise env_var_exists()
    changed = {**version, "envVars": env_vars}
    await save_versions(session, actor, [changed if v is version else v for v in actor.versions])


def env_var_exists() -> ApiError:
    # Apify's type and status for a name the version already has (as for version-already-exists).
    return ApiError(
        "Environment variable with this name already exists",
        status_code=403,
        error_type="env-var-already-exists",
    )


async def add_env_var(session: AsyncSession, actor: Actor, number: str, raw: Any) -> dict[str, Any]:
    await lock_actor(session, actor)
    version = find_version(actor, number)
    var = check_env_var(raw)
    await _save_env_vars(session, actor, version, [*(version.get("envVars") or []), var])
    return var


async def update_env_var(
    session: AsyncSession, actor: Actor, number: str, name: str, raw: Any
) -> dict[str, Any]:
    """Fields in the body replace the variable's; a new `name` renames it."""
    await lock_actor(session, actor)
    version = find_version(actor, number)
    old = find_env_var(version, name)
    if not isinstance(raw, dict):
        raise InvalidInput("The environment variable must be a JSON object.")
    merged = {**old, **raw}
    if "value" not in raw and old.get("isSecret"):
        merged.pop("value", None)  # check_env_var keeps a secret's value only while it stays secret
    var = check_env_var(merged, old)
    env_vars = [var if v.get("name") == name else v for v in version.get("envVars") or []]
    await _save_env_vars(session, actor, version, env_vars)
    return var


async def delete_env_var(session: AsyncSession, actor: Actor, number: str, name: str) -> None:
    await lock_actor(session, actor)
    version = find_version(actor, number)
    find_env_var(version, name)
    env_vars = [v for v in version.get("envVars") or [] if v.get("name") != name]
    await _save_env_vars(session, actor, version, env_vars)
