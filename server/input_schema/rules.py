"""Apify's rules for an input schema (the `@apify/input_schema` package's checks, written afresh):
which keys a schema and each of its fields may have, which editor each type takes, and that
defaults and examples have the field's type. A schema they reject fails the build that carries it.

`problem(schema)` answers the first rule broken, as a sentence for the build log, or None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

TYPES = ("string", "boolean", "integer", "number", "object", "array")
_TOP_KEYS = {"$schema", "title", "schemaVersion", "description", "type", "required", "additionalProperties"}
_COMMON = {
    "type",
    "title",
    "description",
    "default",
    "prefill",
    "example",
    "nullable",
    "sectionCaption",
    "sectionDescription",
    "editor",
    "errorMessage",
}
_RESOURCE = {"resourceType", "resourcePermissions", "mcpServers"}
_RESOURCE_TYPES = {"dataset", "keyValueStore", "requestQueue", "mcpConnector"}
# Per type: the editors it takes (None: editor optional) and the keys beyond _COMMON it may have.
_EDITORS: dict[str, set[str]] = {
    "string": {
        "textfield",
        "textarea",
        "javascript",
        "python",
        "datepicker",
        "select",
        "fileupload",
        "hidden",
    },
    "boolean": {"checkbox", "hidden"},
    "integer": {"number", "hidden"},
    "number": {"number", "hidden"},
    "object": {"json", "proxy", "schemaBased", "hidden"},
    "array": {
        "json",
        "requestListSources",
        "pseudoUrls",
        "globs",
        "keyValue",
        "stringList",
        "fileupload",
        "select",
        "schemaBased",
        "hidden",
    },
}
_KEYS: dict[str, set[str]] = {
    "string": {"pattern", "minLength", "maxLength", "isSecret", "dateType", "enum", "enumTitles"}
    | {"enumSuggestedValues"}
    | _RESOURCE,
    "boolean": {"groupCaption", "groupDescription"},
    "integer": {"minimum", "maximum", "unit"},
    "number": {"minimum", "maximum", "unit"},
    "object": {
        "minProperties",
        "maxProperties",
        "isSecret",
        "properties",
        "required",
        "additionalProperties",
    },
    "array": {
        "minItems",
        "maxItems",
        "uniqueItems",
        "items",
        "placeholderKey",
        "placeholderValue",
        "isSecret",
    }
    | _RESOURCE,
}
_INTEGER_KEYS = {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}
_DATE_TYPES = {"absolute", "relative", "absoluteOrRelative"}
_META = Draft7Validator(Draft7Validator.META_SCHEMA)


class _Rejected(Exception):
    pass


def problem(schema: Any) -> str | None:
    """Why Apify's rules reject `schema`, or None when they accept it."""
    try:
        _check_top(schema)
        # Beyond Apify's own rules, what JSON Schema itself requires of every keyword at any depth
        # (e.g. a nested `minimum` that is no number), so that validating an input cannot fail.
        _check_json_schema(schema)
    except _Rejected as exc:
        return f"Input schema is not valid ({exc})"
    return None


def _check_json_schema(schema: dict[str, Any]) -> None:
    errors = list(_META.iter_errors(schema))
    if errors:
        deepest = max((e for error in errors for e in _branches(error)), key=lambda e: len(e.absolute_path))
        where = ".".join(["schema", *(str(p) for p in deepest.absolute_path)])
        raise _Rejected(f"field {where}: {deepest.message}")


def _branches(error: ValidationError) -> Iterator[ValidationError]:
    """An error and those of the alternatives it failed (anyOf): the deepest names the culprit."""
    yield error
    for inner in error.context or ():
        yield from _branches(inner)


def _check_top(schema: Any) -> None:
    if not isinstance(schema, dict):
        raise _Rejected("the schema must be a JSON object")
    for key in ("title", "type", "properties", "schemaVersion"):
        if key not in schema:
            raise _Rejected(f"field schema.{key} is required")
    if unknown := sorted(set(schema) - _TOP_KEYS - {"properties"}):
        raise _Rejected(f"property schema.{unknown[0]} is not allowed")
    if schema["type"] != "object":
        raise _Rejected('field schema.type must be "object"')
    if not isinstance(schema["title"], str):
        raise _Rejected("field schema.title must be a string")
    if not isinstance(schema.get("description", ""), str):
        raise _Rejected("field schema.description must be a string")
    if schema["schemaVersion"] != 1 or isinstance(schema["schemaVersion"], bool):
        raise _Rejected("field schema.schemaVersion must be 1")
    if not isinstance(schema.get("additionalProperties", True), bool):
        raise _Rejected("field schema.additionalProperties must be a boolean")
    _check_fields(schema["properties"], schema.get("required", []), "schema", top=True)


def _check_fields(properties: Any, required: Any, where: str, *, top: bool) -> None:
    if not isinstance(properties, dict):
        raise _Rejected(f"field {where}.properties must be an object")
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise _Rejected(f"field {where}.required must be an array of strings")
    if len(set(required)) != len(required):
        raise _Rejected(f"field {where}.required must not name a field twice")
    for name, field in properties.items():
        _check_field(field, f"{where}.properties.{name}", top=top)
    for name in required:
        if name not in properties:
            raise _Rejected(
                f"field {where}.required names {name!r}, which {where}.properties does not define"
            )


def _check_field(field: Any, where: str, *, top: bool) -> None:
    if not isinstance(field, dict):
        raise _Rejected(f"field {where} must be an object")
    for key in ("type", "title", "description"):
        if key not in field:
            raise _Rejected(f"field {where}.{key} is required")
        if key != "type" and not isinstance(field[key], str):
            raise _Rejected(f"field {where}.{key} must be a string")
    for key in ("patternKey", "patternValue"):
        if key in field:
            raise _Rejected(f"property {where}.{key} is deprecated and no longer supported")
    kind = field["type"]
    if isinstance(kind, list):
        _check_any(field, where)
        return
    if kind not in TYPES:
        raise _Rejected(f"field {where}.type must be one of {', '.join(TYPES)}, or an array of them")
    if unknown := sorted(set(field) - _COMMON - _KEYS[kind]):
        raise _Rejected(f"property {where}.{unknown[0]} is not allowed for a field of type {kind}")
    _check_editor(field, kind, where, top=top)
    for key in ("default", "prefill", "example"):
        if key in field and not _has_type(field[key], kind, nullable=key == "default" and _nullable(field)):
            raise _Rejected(f"field {where}.{key} must be of type {kind}")
    _check_constraints(field, kind, where)
    if kind == "object" and "properties" in field:
        _check_fields(field["properties"], field.get("required", []), where, top=False)
    if kind == "array" and isinstance(field.get("items"), dict):
        _check_items(field["items"], f"{where}.items")


def _check_editor(field: dict[str, Any], kind: str, where: str, *, top: bool) -> None:
    editor = field.get("editor")
    resource = field.get("resourceType")
    if resource is not None:
        if resource not in _RESOURCE_TYPES or kind not in ("string", "array"):
            raise _Rejected(f"field {where}.resourceType must be one of {', '.join(sorted(_RESOURCE_TYPES))}")
        allowed = {"resourcePicker", "hidden"} | ({"textfield"} if kind == "string" else set())
    elif kind == "string" and "enum" in field:
        allowed = {"select"}
        if not _strings(field["enum"], unique=True):
            raise _Rejected(f"field {where}.enum must be a non-empty array of distinct strings")
    else:
        allowed = _EDITORS[kind]
        # Top-level strings, arrays and objects need an editor (Apify's Console draws the form by it).
        if editor is None and top and kind in ("string", "array", "object"):
            raise _Rejected(f"field {where}.editor is required")
    if editor is not None and editor not in allowed:
        raise _Rejected(f"field {where}.editor must be one of {', '.join(sorted(allowed))}")
    if "dateType" in field and (editor != "datepicker" or field["dateType"] not in _DATE_TYPES):
        raise _Rejected(
            f"field {where}.dateType needs the datepicker editor and one of {', '.join(_DATE_TYPES)}"
        )
    if kind == "string" and editor == "select" and "enum" not in field and "enumSuggestedValues" not in field:
        raise _Rejected(f"field {where} with the select editor needs 'enum' or 'enumSuggestedValues'")
    for key in ("enumTitles", "enumSuggestedValues"):
        if key in field and not _strings(field[key], unique=key == "enumSuggestedValues"):
            raise _Rejected(f"field {where}.{key} must be a non-empty array of strings")


def _check_constraints(field: dict[str, Any], kind: str, where: str) -> None:
    for key in _INTEGER_KEYS & set(field):
        if not _has_type(field[key], "integer", nullable=False):
            raise _Rejected(f"field {where}.{key} must be an integer")
    for key in ("minimum", "maximum"):
        if key in field and not _has_type(
            field[key], "integer" if kind == "integer" else "number", nullable=False
        ):
            raise _Rejected(
                f"field {where}.{key} must be {'an integer' if kind == 'integer' else 'a number'}"
            )
    for key in ("nullable", "isSecret", "uniqueItems", "additionalProperties"):
        if key in field and not isinstance(field[key], bool):
            raise _Rejected(f"field {where}.{key} must be a boolean")
    if "pattern" in field:
        pattern = field["pattern"]
        if not isinstance(pattern, str):
            raise _Rejected(f"field {where}.pattern must be a string")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _Rejected(
                f'the regular expression "{pattern}" in field {where} must be valid ({exc})'
            ) from exc


def _check_any(field: dict[str, Any], where: str) -> None:
    kinds = field["type"]
    if not kinds or not all(k in TYPES for k in kinds) or len(set(kinds)) != len(kinds):
        raise _Rejected(
            f"field {where}.type must be a non-empty array of distinct types among {', '.join(TYPES)}"
        )
    if unknown := sorted(set(field) - _COMMON):
        raise _Rejected(f"property {where}.{unknown[0]} is not allowed for a field of several types")
    if field.get("editor", "json") not in ("json", "hidden"):
        raise _Rejected(f"field {where}.editor must be one of hidden, json")


def _check_items(items: dict[str, Any], where: str) -> None:
    kind = items.get("type")
    if kind is not None and kind not in TYPES:
        raise _Rejected(f"field {where}.type must be one of {', '.join(TYPES)}")
    if kind == "object" and "properties" in items:
        _check_fields(items["properties"], items.get("required", []), where, top=False)
    if kind == "array" and isinstance(items.get("items"), dict):
        _check_items(items["items"], f"{where}.items")


def _nullable(field: dict[str, Any]) -> bool:
    return field.get("nullable") is True


def _strings(value: Any, *, unique: bool) -> bool:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return False
    return not unique or len(set(value)) == len(value)


def _has_type(value: Any, kind: str, *, nullable: bool) -> bool:
    """JSON Schema's types: a bool is no number, an integral float is an integer."""
    if value is None:
        return nullable
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = {"string": str, "boolean": bool, "object": dict, "array": list}[kind]
    return isinstance(value, expected)
