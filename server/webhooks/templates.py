"""Webhook payload and headers templates: Apify's JSON-like syntax with {{variable}} (pure).

A Python port of Apify's WebhookPayloadTemplate (@apify/utilities): the template is JSON in which a
`{{variable}}` outside a string stands for the variable's value as JSON; with
shouldInterpolateStrings, a string that is exactly "{{variable}}" becomes the value itself and
other strings get the value's text in place. Variables may use dots (`{{resource.id}}`).

Two departures, both where Apify's code misbehaves: text a variable put in is never read as part of
the template (Apify's interpolation also walks the values it put in, so a run's status message
holding "{{x}}" would be interpolated, or fail the call), and a value interpolated inside a string
that is an object or array is its JSON, not "[object Object]".
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Mapping
from typing import Any

# Apify's WEBHOOK_ALLOWED_PAYLOAD_VARIABLES, and `globals` ({dateISO, dateUnix}) from its docs.
ALLOWED_VARIABLES = frozenset({"userId", "createdAt", "eventType", "eventData", "resource", "globals"})
DEFAULT_PAYLOAD_TEMPLATE = """{
    "userId": {{userId}},
    "createdAt": {{createdAt}},
    "eventType": {{eventType}},
    "eventData": {{eventData}},
    "resource": {{resource}}
}"""
MAX_TEMPLATE_CHARS = 100_000
_WHOLE = re.compile(r"^\{\{([a-zA-Z0-9.]+)\}\}$")
_INSIDE = re.compile(r"\{\{([a-zA-Z0-9.]+)\}\}")


class TemplateError(ValueError):
    """Raised when a template is not JSON once its variables are replaced, or names an unknown one."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")  # JSON.parse refuses NaN and Infinity; so do we


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # nesting past the interpreter's limit: a 400, not a 500 (issue 14)
        raise ValueError("it is nested too deep") from None


def _check_name(name: str) -> None:
    if name.split(".", 1)[0] not in ALLOWED_VARIABLES:
        raise TemplateError(f"Invalid payload template variable: {name}")


def _value(name: str, context: Mapping[str, Any]) -> Any:
    variable, *properties = name.split(".")
    value: Any = context.get(variable)
    for prop in properties:
        if not isinstance(value, Mapping):
            return None
        value = value.get(prop)
    return value


def _js_falsy(value: Any) -> bool:
    # Apify writes `value ? JSON.stringify(value) : null`: null, false, 0 and "" all become null.
    if isinstance(value, bool):
        return not value
    return value is None or value == "" or (isinstance(value, int | float) and value == 0)


def _inside_string(text: str, index: int) -> bool:
    """Whether text[index] is inside a JSON string: an odd number of unescaped quotes before it."""
    quotes = 0
    previous = ""
    for char in text[:index]:
        if char == '"' and previous != "\\":
            quotes += 1
        previous = char
    return quotes % 2 == 1


def _replace_outside_strings(template: str, context: Mapping[str, Any], values: list[Any], mark: str) -> Any:
    """The template parsed, each variable outside a string standing as a marker string that names
    its value in `values` (so that text put in is never taken for part of the template)."""
    text, start = template, 0
    while True:
        try:
            return _loads(text)
        except ValueError as exc:
            error = exc
        opening = text.find("{{", start)
        closing = text.find("}}", opening) if opening >= 0 else -1
        if opening < 0 or closing < 0:
            raise TemplateError(f"The template is not valid JSON: {error}")
        if _inside_string(text, opening):
            start = opening + 1
            continue
        name = text[opening + 2 : closing]
        _check_name(name)
        value = _value(name, context)
        values.append(None if _js_falsy(value) else value)
        replacement = json.dumps(f"{mark}{len(values) - 1}")
        text = text[:opening] + replacement + text[closing + 2 :]
        start = opening + len(replacement)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _interpolate(value: str, context: Mapping[str, Any]) -> Any:
    whole = _WHOLE.match(value)
    if whole:
        _check_name(whole.group(1))
        return _value(whole.group(1), context)

    def one(match: re.Match[str]) -> str:
        _check_name(match.group(1))
        return _text(_value(match.group(1), context))

    return _INSIDE.sub(one, value)


class _Filler:
    def __init__(self, context: Mapping[str, Any], values: list[Any], mark: str, interpolate: bool):
        self.context, self.values, self.mark, self.interpolate = context, values, mark, interpolate

    def key(self, key: str) -> str:
        if not key.startswith(self.mark):
            return key  # Apify interpolates values, never keys
        value = self.values[int(key[len(self.mark) :])]
        if not isinstance(value, str):  # Apify's text would not be JSON: an object key must be a string
            raise TemplateError("The template is not valid JSON: a variable used as a key is not a string")
        return value

    def fill(self, data: Any) -> Any:
        if isinstance(data, str):
            if data.startswith(self.mark):
                return self.values[int(data[len(self.mark) :])]
            return _interpolate(data, self.context) if self.interpolate else data
        if isinstance(data, list):
            return [self.fill(item) for item in data]
        if isinstance(data, dict):
            return {self.key(key): self.fill(item) for key, item in data.items()}
        return data


def render(template: str, context: Mapping[str, Any], *, interpolate_strings: bool) -> Any:
    """The template's value with the context's variables in it."""
    values: list[Any] = []
    mark = f"\x00greenroom-variable-{secrets.token_hex(8)}:"  # no template can hold it
    data = _replace_outside_strings(template, context, values, mark)
    return _Filler(context, values, mark, interpolate_strings).fill(data)


def header_values(rendered: Any) -> dict[str, str]:
    """A rendered headers template as header values: strings as they are, other values as JSON,
    null left out."""
    if not isinstance(rendered, dict):
        raise TemplateError("The headers template must be a JSON object.")
    return {name: _text(value) for name, value in rendered.items() if value is not None}


# A sample of every variable, to check a template when it is saved.
SAMPLE_CONTEXT: dict[str, Any] = {
    "userId": "wRsJZtadYvn4mBZmm",
    "createdAt": "2026-01-01T00:00:00.000Z",
    "eventType": "ACTOR.RUN.SUCCEEDED",
    "eventData": {"actorId": "vvE7iMKuMc5qTHHsR", "actorRunId": "JgwXN9BdwxGcu9MMF"},
    "resource": {"id": "JgwXN9BdwxGcu9MMF", "status": "SUCCEEDED"},
    "globals": {"dateISO": "2026-01-01T00:00:00.000Z", "dateUnix": 1767225600000},
}
