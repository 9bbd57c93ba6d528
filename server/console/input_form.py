"""A Run form from an actor's input schema: one field per property (text, number, checkbox, select,
JSON for arrays and objects), read back into an input object. Without a schema: a JSON editor."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from server import strict_json
from server.errors import ApiError, InvalidInput, InvalidRequest
from server.services.build_versions import resolve_build
from server.services.input_schemas import build_input_schema
from server.settings import Settings
from server.storage.models import Actor

PREFIX = "input."
JSON_FIELD = "input_json"


@dataclass(frozen=True)
class Field:
    name: str
    title: str
    kind: str  # text, textarea, number, integer, boolean, select, json
    description: str
    required: bool
    value: Any  # what the field shows: the given input's, else the schema's prefill or default
    choices: tuple[str, ...] = ()


async def schema_properties(
    session: AsyncSession, actor: Actor, build: str = "latest"
) -> dict[str, Any] | None:
    """The properties of the build's input schema; None when it has none (or there is no build yet)."""
    try:
        ref = await session.run_sync(resolve_build, actor, build)
    except ApiError:
        return None
    found = await session.run_sync(build_input_schema, ref.id)
    if found.schema is None:
        return None
    schema = found.schema.schema
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return None
    required = set(schema.get("required") or ())
    return {
        name: dict(spec, _required=name in required)
        for name, spec in properties.items()
        if isinstance(spec, dict)
    }


def _kind(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if kind == "string":
        if spec.get("enum"):
            return "select"
        return "textarea" if spec.get("editor") in ("textarea", "javascript", "python", "json") else "text"
    if kind in ("integer", "number", "boolean"):
        return str(kind)
    return "json"


def fields(properties: dict[str, Any], given: dict[str, Any] | None) -> list[Field]:
    out = []
    for name, spec in properties.items():
        kind = _kind(spec)
        value = (given or {}).get(name, spec.get("prefill", spec.get("default")))
        if kind == "json" and value is not None:
            value = json.dumps(value, indent=2, ensure_ascii=False)
        out.append(
            Field(
                name=name,
                title=str(spec.get("title") or name),
                kind=kind,
                description=str(spec.get("description") or ""),
                required=bool(spec.get("_required")),
                value=value,
                choices=tuple(str(c) for c in spec.get("enum") or ()),
            )
        )
    return out


def _number(raw: str, name: str, kind: str) -> int | float:
    try:
        value = int(raw) if kind == "integer" else float(raw)
    except ValueError:
        raise InvalidInput(f"Field '{name}' must be a number.") from None
    if not math.isfinite(value):  # inf and nan would be stored as invalid JSON
        raise InvalidInput(f"Field '{name}' must be a finite number.")
    return value


def read_input(form: FormData, properties: dict[str, Any] | None, settings: Settings) -> dict[str, Any]:
    """The input object the form describes: its fields (empty ones left out), or its JSON editor.
    JSON is read as the API reads bodies (server/strict_json.py)."""
    if properties is None:
        raw = form.get(JSON_FIELD)
        if not isinstance(raw, str) or not raw.strip():
            return {}
        try:
            value = strict_json.loads(raw, settings)
        except InvalidRequest as exc:
            raise InvalidInput(f"The input is not valid JSON: {exc.message}") from None
        if not isinstance(value, dict):
            raise InvalidInput("The input must be a JSON object.")
        return value
    out: dict[str, Any] = {}
    for name, spec in properties.items():
        kind = _kind(spec)
        raw = form.get(PREFIX + name)
        if kind == "boolean":
            out[name] = raw == "on"
            continue
        if not isinstance(raw, str) or raw.strip() == "":
            continue
        if kind in ("integer", "number"):
            out[name] = _number(raw.strip(), name, kind)
        elif kind == "json":
            try:
                out[name] = strict_json.loads(raw, settings)
            except InvalidRequest:
                raise InvalidInput(f"Field '{name}' must be JSON.") from None
        else:
            out[name] = raw
    return out
