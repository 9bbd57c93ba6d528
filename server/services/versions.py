"""An actor's versions and their env vars: find, check, add, update, delete.

Every function that changes them runs inside the caller's transaction with the actor locked
(lock_actor), and raises before its commit on bad input, so a rejected request writes nothing
(builds made earlier in the same request roll back too). A new or changed version makes a build
(save_versions, via server/services/build_versions.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import ApiError, InvalidInput, NotFound
from server.secrets import SecretsUnavailable, seal_env_vars
from server.services.build_versions import SNAPSHOT_KEYS, build_version, lock_actor
from server.services.validation import check_env_var, check_env_vars, check_version
from server.settings import Settings
from server.storage.models import Actor


def _needs_build(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """A new or changed source (files, callable, start command, env vars) or a new tag: build it, so
    the next run of the tag runs what the version now says."""
    if old is None:
        return True
    return _comparable(old) != _comparable(new)


def _comparable(version: dict[str, Any]) -> dict[str, Any]:
    # Env vars as they are stored (secrets sealed: the same value seals the same way): a version
    # created without any equals one with [].
    env_vars = [
        {
            "name": v.get("name"),
            "value": v.get("sealed", v.get("value", "")),
            "isSecret": bool(v.get("isSecret")),
        }
        for v in version.get("envVars") or []
    ]
    snapshot = {k: version.get(k) for k in SNAPSHOT_KEYS}
    return snapshot | {"envVars": env_vars, "buildTag": version.get("buildTag")}


async def save_versions(
    session: AsyncSession, actor: Actor, versions: list[dict[str, Any]], settings: Settings
) -> None:
    """Store checked versions in place of the actor's, their secrets sealed; build the ones that are
    new or changed."""
    old = {v["versionNumber"]: v for v in actor.versions}
    versions = stored_versions(versions, settings)
    for version in versions:
        if _needs_build(old.get(version["versionNumber"]), version):
            await build_version(session, actor, version)
    # A new list: SQLAlchemy does not see in-place JSON changes. The actor's modifiedAt stays: it
    # covers the actor's own fields, and `apify push` refuses (without --force) to push files older
    # than it, so a version update moving it would refuse every second push of unchanged files.
    actor.versions = list(versions)


def stored_versions(versions: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """The versions as they are stored: callables only of GREENROOM_CALLABLE_MODULES (trusted code,
    run outside the sandbox), every secret env var sealed (server/secrets.py)."""
    for version in versions:
        target = version.get("callable")
        if version.get("sourceType") == "PYTHON_CALLABLE" and not settings.allows_callable(str(target)):
            raise InvalidInput(
                f"PYTHON_CALLABLE '{target}' is not allowed on this server: its module is not in"
                " GREENROOM_CALLABLE_MODULES (callables are trusted code installed with the workers)."
            )
    try:
        return [
            v | {"envVars": seal_env_vars(settings.secrets_key, v.get("envVars") or [])} for v in versions
        ]
    except SecretsUnavailable as exc:
        raise InvalidInput(
            f"Secret environment variables cannot be stored: {exc} (see the README's Configuration)."
        ) from exc


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


def find_version(actor: Actor, number: str) -> dict[str, Any]:
    for version in actor.versions:
        if version["versionNumber"] == number:
            return version
    raise NotFound("Actor version was not found")


async def add_version(session: AsyncSession, actor: Actor, raw: Any, settings: Settings) -> dict[str, Any]:
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
    await save_versions(session, actor, [*actor.versions, version], settings)
    return version


async def update_version(
    session: AsyncSession, actor: Actor, number: str, raw: Any, settings: Settings
) -> dict[str, Any]:
    """Fields in the body replace the version's; the others stay (Apify's PUT .../versions/:v)."""
    await lock_actor(session, actor)
    old = find_version(actor, number)
    if not isinstance(raw, dict):
        raise InvalidInput("The version must be a JSON object.")
    if raw.get("versionNumber", number) != number:
        raise InvalidInput("'versionNumber' cannot be changed; create a new version instead.")
    version = check_version({**old, **raw, "versionNumber": number})
    version["envVars"] = check_env_vars(version.get("envVars"), old.get("envVars"))
    await save_versions(session, actor, [version if v is old else v for v in actor.versions], settings)
    return version


async def delete_version(session: AsyncSession, actor: Actor, number: str) -> None:
    await lock_actor(session, actor)
    old = find_version(actor, number)
    if len(actor.versions) == 1:
        raise too_few_versions()
    # Its builds stay: runs made from them, and tags pointing at them, keep working.
    actor.versions = [v for v in actor.versions if v is not old]


def find_env_var(version: dict[str, Any], name: str) -> dict[str, Any]:
    for var in version.get("envVars") or []:
        if var.get("name") == name:
            return dict(var)
    raise NotFound("Environment variable was not found")


async def _save_env_vars(
    session: AsyncSession,
    actor: Actor,
    version: dict[str, Any],
    env_vars: list[dict[str, Any]],
    settings: Settings,
) -> None:
    if len({v["name"] for v in env_vars}) != len(env_vars):
        raise env_var_exists()
    changed = {**version, "envVars": env_vars}
    await save_versions(session, actor, [changed if v is version else v for v in actor.versions], settings)


def env_var_exists() -> ApiError:
    # Apify's type and status for a name the version already has (as for version-already-exists).
    return ApiError(
        "Environment variable with this name already exists",
        status_code=403,
        error_type="env-var-already-exists",
    )


async def add_env_var(
    session: AsyncSession, actor: Actor, number: str, raw: Any, settings: Settings
) -> dict[str, Any]:
    await lock_actor(session, actor)
    version = find_version(actor, number)
    var = check_env_var(raw)
    await _save_env_vars(session, actor, version, [*(version.get("envVars") or []), var], settings)
    return var


async def update_env_var(
    session: AsyncSession, actor: Actor, number: str, name: str, raw: Any, settings: Settings
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
    await _save_env_vars(session, actor, version, env_vars, settings)
    return var


async def delete_env_var(
    session: AsyncSession, actor: Actor, number: str, name: str, settings: Settings
) -> None:
    await lock_actor(session, actor)
    version = find_version(actor, number)
    find_env_var(version, name)
    env_vars = [v for v in version.get("envVars") or [] if v.get("name") != name]
    await _save_env_vars(session, actor, version, env_vars, settings)
