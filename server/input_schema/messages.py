"""An input error in the words the platform uses: `Field input.<path> <what is wrong>`.

Apify validates input with Ajv and shows Ajv's message for the first error after the field's path
(`@apify/input_schema`'s parseAjvError); the API answers it as `Input is not valid: <message>`, e.g.
`Field input.url is required`, `Field input.sort must be equal to one of the allowed values: "a",
"b"`, `Field input.people must NOT have more than 1000 items`. jsonschema finds the errors here;
this module words them as Ajv would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from jsonschema.exceptions import ValidationError


def field_path(parts: Any) -> str:
    return ".".join(str(part) for part in parts)


def _number(value: Any) -> str:
    """A number as JavaScript prints it (1, not 1.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _js_text(value: Any) -> str:
    """What JavaScript's Array.join makes of an enum value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        return value
    return "[object Object]" if isinstance(value, dict) else ",".join(_js_text(v) for v in value)


def _duplicates(items: list[Any]) -> tuple[int, int]:
    """The pair Ajv names: scanning from the end, the first item seen again (later, earlier)."""
    seen: dict[str, int] = {}
    for index in range(len(items) - 1, -1, -1):
        key = json.dumps(items[index], sort_keys=True)
        if key in seen:
            return seen[key], index
        seen[key] = index
    return 0, 0


_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
_COUNTS = {
    "minLength": ("fewer", "characters"),
    "maxLength": ("more", "characters"),
    "minItems": ("fewer", "items"),
    "maxItems": ("more", "items"),
    "minProperties": ("fewer", "properties"),
    "maxProperties": ("more", "properties"),
}


def messages(error: ValidationError) -> Iterator[tuple[str, str]]:
    """(field path, message) for one jsonschema error; `required` and `additionalProperties` name
    each property they are about, as Ajv reports one error per property."""
    keyword, value, path = error.validator, error.validator_value, list(error.absolute_path)
    instance = error.instance
    if keyword == "required":
        for name in value:
            if isinstance(instance, dict) and name not in instance:
                key = field_path([*path, name])
                yield key, f"Field input.{key} is required"
        return
    if keyword == "additionalProperties":
        allowed = error.schema.get("properties") or {}
        for name in instance:
            if name not in allowed:
                key = field_path([*path, name])
                yield key, f"Property input.{key} is not allowed."
        return
    key = field_path(path)
    yield key, f"Field input.{key} {_what(keyword, value, instance)}"


def _what(keyword: str, value: Any, instance: Any) -> str:
    if keyword == "type":
        return f"must be {','.join(value) if isinstance(value, list) else value}"
    if keyword == "enum":
        allowed = '", "'.join(_js_text(v) for v in value)
        return f'must be equal to one of the allowed values: "{allowed}"'
    if keyword == "const":
        return "must be equal to constant"
    if keyword in _BOUNDS:
        return f"must be {_BOUNDS[keyword]} {_number(value)}"
    if keyword in _COUNTS:
        than, unit = _COUNTS[keyword]
        return f"must NOT have {than} than {value} {unit}"
    if keyword == "pattern":
        return f'must match pattern "{value}"'
    if keyword == "format":
        return f'must match format "{value}"'
    if keyword == "multipleOf":
        return f"must be multiple of {_number(value)}"
    if keyword == "uniqueItems":
        later, earlier = _duplicates(instance)
        return f"must NOT have duplicate items (items ## {later} and {earlier} are identical)"
    return "must match the input schema"
