"""The actor a standby URL names, if the caller may use it and its Standby is on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.actor_definition import definition
from server.errors import ActorNotFound
from server.services.build_versions import resolve_build
from server.services.resolve import actor_sync
from server.standby.config import StandbyConfig
from server.standby.errors import StandbyDisabled
from server.storage.models import Actor, Build, User

if TYPE_CHECKING:
    from server.lifespan import AppState


# Builds never change: whether one's .actor/actor.json says usesStandbyMode, read once per process.
_USES_STANDBY: dict[str, bool] = {}


async def standby_actor(state: AppState, user: User, name: str) -> tuple[Actor, StandbyConfig]:
    """The caller's actor named `<username>--<actor-name>` (as Apify's standby host names it;
    case does not matter) and its Standby settings; 404 if there is none or its Standby is off."""
    username, separator, actor_name = name.partition("--")
    if not separator or username.lower() != user.username.lower():
        raise ActorNotFound()  # another user's actor is not found, as everywhere
    return await state.db.quick_read(lambda session: _enabled(session, user, actor_name.lower()))


def _enabled(session: Session, user: User, actor_name: str) -> tuple[Actor, StandbyConfig]:
    actor = actor_sync(session, user, f"~{actor_name}")
    stored = actor.actor_standby or {}
    config = StandbyConfig.of(stored)
    enabled = stored.get("isEnabled")
    if enabled is None:  # never set: the build's .actor/actor.json decides (usesStandbyMode)
        build = resolve_build(
            session, actor, config.build or actor.default_run_options.get("build") or "latest"
        )
        if build.id not in _USES_STANDBY:
            source = session.execute(select(Build.source).where(Build.id == build.id)).scalar_one()
            uses = (definition(source).actor_definition or {}).get("usesStandbyMode") is True
            _USES_STANDBY[build.id] = uses
        enabled = _USES_STANDBY[build.id]
    if not enabled:
        raise StandbyDisabled(
            f"Actor Standby is not enabled for the Actor {user.username}/{actor.name}: set"
            " actorStandby.isEnabled, or usesStandbyMode in its .actor/actor.json."
        )
    return actor, config
