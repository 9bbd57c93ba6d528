"""What a run starts: its RunSpec, read from SQL when the run is claimed and again after a reboot or
metamorph (a metamorphed run starts the last metamorph's actor, build and input key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select
from sqlalchemy.exc import NoResultFound

from server.storage.ids import iso
from server.storage.models import Actor, Build, User
from server.storage.prepared import Prepared
from server.storage.runs import RUNS
from worker.runners.base import RunSpec

_BUILDS, _ACTORS, _USERS = (cast(Table, model.__table__) for model in (Build, Actor, User))
_BUILD_COLUMNS = (
    _BUILDS.c.source,
    _ACTORS.c.name.label("actor_name"),
    _ACTORS.c.tagged_builds,
    _BUILDS.c.status.label("build_status"),
    _BUILDS.c.options.label("build_options"),
    _BUILDS.c.tag.label("build_tag"),
    _BUILDS.c.build_number.label("spec_build_number"),
)
# The run with its own build and actor: one query on the claim's hot path.
_SPEC = (
    select(RUNS, *_BUILD_COLUMNS, _USERS.c.username)
    .join(_BUILDS, _BUILDS.c.id == RUNS.c.build_id)
    .join(_ACTORS, _ACTORS.c.id == RUNS.c.act_id)
    .join(_USERS, _USERS.c.id == RUNS.c.user_id)
    .where(RUNS.c.id == bindparam("run_id"))
)
_SPEC_READ = Prepared(_SPEC)  # prepared on SQLite (server/storage/prepared.py)
# A metamorph's target build and actor (only metamorphed runs pay this second query).
_TARGET = (
    select(*_BUILD_COLUMNS)
    .join(_ACTORS, _ACTORS.c.id == _BUILDS.c.act_id)
    .where(_BUILDS.c.id == bindparam("build_id"))
)


def generation(reboot_count: int | None, metamorphs: list[Any] | None) -> int:
    """How many times the run was rebooted or metamorphed: the worker starts the actor again when it grows."""
    return int(reboot_count or 0) + len(metamorphs or [])


def read_spec(connection: Connection, run_id: str, token: str) -> tuple[RunSpec, dict[str, Any], int]:
    """The run's spec as it starts now, its stats, and its generation."""
    found = _SPEC_READ.first(connection, {"run_id": run_id})
    if found is None:  # as SQLAlchemy's one() raised: the run (or its build, actor, user) is gone
        raise NoResultFound(f"run {run_id} has no row to start from")
    run = found._asdict()
    build: Mapping[Any, Any] = run
    act_id, build_id = run["act_id"], run["build_id"]
    if run["metamorphs"]:
        last = run["metamorphs"][-1]
        act_id, build_id = last["actorId"], last["buildId"]
        build = connection.execute(_TARGET, {"build_id": build_id}).one()._mapping
    spec = RunSpec(
        run_id=run_id,
        user_id=run["user_id"],
        username=run["username"],
        act_id=act_id,
        actor_name=build["actor_name"],
        actor_task_id=run["actor_task_id"],
        build_id=build_id,
        build_number=build["spec_build_number"],
        source=dict(build["source"]),
        options=dict(run["options"]),
        default_key_value_store_id=run["default_key_value_store_id"],
        default_dataset_id=run["default_dataset_id"],
        default_request_queue_id=run["default_request_queue_id"],
        started_at=iso(run["started_at"]) or "",
        token=token,
        origin=run["origin"],
        build_status=build["build_status"],
        use_cache=(build["build_options"] or {}).get("useCache") is not False,
        # The tags pointing at the build, and the one it takes when it succeeds: a run of a build still
        # in progress (built on demand) has its tag too.
        build_tags=tuple(
            sorted(
                {
                    tag
                    for tag, tagged in (build["tagged_builds"] or {}).items()
                    if tagged.get("buildId") == build_id
                }
                | ({build["build_tag"]} if build["build_tag"] else set())
            )
        ),
        input_key=run["input_key"] or "INPUT",
        pricing_info=run["pricing_info"],
        charged_event_counts=dict(run["charged_event_counts"] or {}),
    )
    return spec, dict(run["stats"]), generation(run["reboot_count"], run["metamorphs"])
