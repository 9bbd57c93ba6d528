"""The input schema of the build a run (or a task, or validate-input) uses, and the input checked
against it: defaults filled in, then validated, before anything is written.

Builds never change, so what a build's files say about its schema is kept per process by build id:
a run start pays one query (the build's source) the first time a process sees the build, then none.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInput, InvalidInputSchema, NotFound
from server.input_schema import (
    NO_SCHEMA,
    BuildInputSchema,
    InputRejected,
    InputSchema,
    of_source,
    prepare_input,
)
from server.services.build_versions import BuildRef, resolve_build
from server.storage.db import Database
from server.storage.models import Actor, Build

JSON_UTF8 = "application/json; charset=utf-8"
_KEPT_BUILDS = 1024
_by_build: OrderedDict[str, BuildInputSchema] = OrderedDict()


def build_input_schema(session: Session, build_id: str) -> BuildInputSchema:
    found = _by_build.get(build_id)
    if found is not None:
        _by_build.move_to_end(build_id)
        return found
    source = session.execute(select(Build.source).where(Build.id == build_id)).scalar_one_or_none()
    found = of_source(source) if isinstance(source, dict) else NO_SCHEMA
    _by_build[build_id] = found
    if len(_by_build) > _KEPT_BUILDS:
        _by_build.popitem(last=False)
    return found


def _usable(found: BuildInputSchema, build: BuildRef) -> InputSchema | None:
    """The build's schema (None: it has none); 400 invalid-input-schema, whatever the input, for a
    schema Apify's rules reject."""
    if found.problem is not None:
        raise InvalidInputSchema(f"Build {build.number} cannot be run: {found.problem}")
    return found.schema


def filled_input(found: BuildInputSchema, build: BuildRef, given: Any) -> dict[str, Any] | None:
    """`given` with the schema's defaults, validated (None: the build has no schema). 400
    invalid-input naming the field; 400 invalid-input-schema for a build whose schema Apify's rules
    reject (a build still in progress: it will fail, and its tag go back to the last good build)."""
    schema = _usable(found, build)
    if schema is None:
        return None
    try:
        return prepare_input(schema, given)
    except InputRejected as exc:
        raise InvalidInput(str(exc)) from exc


def checked_body(
    session: Session, build: BuildRef, body: bytes | None, content_type: str
) -> tuple[bytes, str] | None:
    """A run's INPUT (the body and its Content-Type; None: no input) as the build's schema makes it:
    unchanged without a schema or when it is not JSON (a schema describes a JSON object; another
    Content-Type is the actor's own business), else with the defaults filled in and validated.
    Sync, as the run start's transaction is (an async session calls it through run_sync)."""
    found = build_input_schema(session, build.id)
    if _usable(found, build) is None or (body is not None and not _is_json(content_type)):
        return (body, content_type) if body is not None else None
    try:
        given = json.loads(body) if body is not None else None
    except ValueError as exc:
        raise InvalidInput("Input is not valid: the input is not valid JSON") from exc
    filled = filled_input(found, build, given)
    if body is None:
        return json.dumps(filled, ensure_ascii=False).encode(), JSON_UTF8
    if filled == given:
        return body, content_type  # nothing filled in: the body as it was sent
    # Defaults filled in: the caller's JSON Content-Type stays (`apify ... get-value INPUT
    # --only-content-type` shows what was sent).
    return json.dumps(filled, ensure_ascii=False).encode(), content_type


def _is_json(content_type: str) -> bool:
    return content_type.strip().lower().startswith("application/json")


def check_task_input(session: Session, actor: Actor, options: dict[str, Any], task_input: Any) -> None:
    """A task's input as it is saved, against the schema of the build its runs use (when there is
    one): Apify refuses to save a task whose input its actor would refuse."""
    tag = options.get("build") or actor.default_run_options.get("build") or "latest"
    try:
        build = resolve_build(session, actor, tag)
    except NotFound:
        return  # nothing built yet: the run will check
    found = build_input_schema(session, build.id)
    if found.problem is None:
        filled_input(found, build, task_input)


async def validate_input(
    db: Database, actor: Actor, tag_or_number: str, body: bytes | None, content_type: str
) -> None:
    """validate-input: what a run of the build would answer (404 unknown-build-tag, 400), no write."""

    def check(session: Session) -> None:
        checked_body(session, resolve_build(session, actor, tag_or_number), body, content_type)

    await db.quick_read(check)
