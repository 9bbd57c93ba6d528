"""Checks on webhook bodies (POST/PUT /v2/webhooks and the `webhooks` run parameter), pure.

Each failure is a 400 naming the field. The result is column values of server.storage.models.Webhook.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from server.errors import InvalidInput
from server.settings import Settings
from server.webhooks.targets import TargetRefused, check_literal_host, parse_url
from server.webhooks.templates import (
    MAX_TEMPLATE_CHARS,
    SAMPLE_CONTEXT,
    TemplateError,
    header_values,
    render,
)

RUN_EVENTS = (
    "ACTOR.RUN.CREATED",
    "ACTOR.RUN.SUCCEEDED",
    "ACTOR.RUN.FAILED",
    "ACTOR.RUN.TIMED_OUT",
    "ACTOR.RUN.ABORTED",
    "ACTOR.RUN.RESURRECTED",
)
BUILD_EVENTS = (
    "ACTOR.BUILD.CREATED",
    "ACTOR.BUILD.SUCCEEDED",
    "ACTOR.BUILD.FAILED",
    "ACTOR.BUILD.TIMED_OUT",
    "ACTOR.BUILD.ABORTED",
)
EVENT_TYPES = frozenset((*RUN_EVENTS, *BUILD_EVENTS, "TEST"))
MAX_VARIABLES = 500
MAX_KEY_CHARS = 256
SECRET_CHARS = (16, 256)
DESCRIPTION_MAX_CHARS = 10_000
# RFC 9110 field names.
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

_BOOLS = {
    "shouldInterpolateStrings": "should_interpolate_strings",
    "ignoreSslErrors": "ignore_ssl_errors",
    "doNotRetry": "do_not_retry",
    "isAdHoc": "is_ad_hoc",
}


def check_event_types(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(e, str) for e in value):
        raise InvalidInput("Webhook 'eventTypes' must be a non-empty array of event types.")
    unknown = sorted({e for e in value if e not in EVENT_TYPES})
    if unknown:
        raise InvalidInput(f"Webhook 'eventTypes' has unknown event types: {', '.join(unknown)}.")
    return list(dict.fromkeys(value))


def check_request_url(value: Any, settings: Settings) -> str:
    if not isinstance(value, str):
        raise InvalidInput("Webhook 'requestUrl' must be an http or https URL.")
    try:
        parse_url(value)
        check_literal_host(value, settings.webhook_allow_private)
    except TargetRefused as exc:
        raise InvalidInput(f"Webhook 'requestUrl' {exc}.") from None
    return value


def check_templates(payload: str | None, headers: str | None, interpolate_strings: bool) -> None:
    """Both templates render with a sample of every variable; the headers to a JSON object whose
    keys are header names."""
    for field, template in (("payloadTemplate", payload), ("headersTemplate", headers)):
        if template is None:
            continue
        try:
            rendered = render(template, SAMPLE_CONTEXT, interpolate_strings=interpolate_strings)
            if field == "headersTemplate":
                bad = [name for name in header_values(rendered) if not HEADER_NAME_RE.fullmatch(name)]
                if bad:
                    raise TemplateError(f"{bad[0]!r} is not a valid header name")
        except TemplateError as exc:
            raise InvalidInput(f"Webhook '{field}' is not valid: {exc}") from None


def _text(value: Any, field: str, max_chars: int) -> str | None:
    # As services.validation.check_text (not imported: server.api.params imports this module).
    if value is None:
        return None
    if not isinstance(value, str) or "\x00" in value or len(value) > max_chars:
        raise InvalidInput(f"Webhook '{field}' must be a string of at most {max_chars} characters.")
    return value


def _template(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    text = _text(value, field, MAX_TEMPLATE_CHARS)
    if text is not None and text.count("{{") > MAX_VARIABLES:
        raise InvalidInput(f"Webhook '{field}' may use at most {MAX_VARIABLES} variables.")
    return text


def _bool(value: Any, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput(f"Webhook '{field}' must be a boolean.")
    return value


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    low, high = SECRET_CHARS
    if not isinstance(value, str) or not low <= len(value) <= high or "\x00" in value:
        raise InvalidInput(f"Webhook 'signingSecret' must be a string of {low} to {high} characters.")
    return value


def _key(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_KEY_CHARS or "\x00" in value:
        raise InvalidInput(f"Webhook 'idempotencyKey' must be a string of 1 to {MAX_KEY_CHARS} characters.")
    return value


def check_fields(body: Mapping[str, Any], settings: Settings, *, required: bool) -> dict[str, Any]:
    """The webhook fields the body names, as column values (`condition` is resolved by the caller).
    required: eventTypes and requestUrl must be there (creating, or an ad-hoc webhook)."""
    if required:
        for field in ("eventTypes", "requestUrl"):
            if body.get(field) is None:
                raise InvalidInput(f"Webhook '{field}' is required.")
    out: dict[str, Any] = {}
    if "eventTypes" in body and (body["eventTypes"] is not None or required):
        out["event_types"] = check_event_types(body["eventTypes"])
    if "requestUrl" in body and (body["requestUrl"] is not None or required):
        out["request_url"] = check_request_url(body["requestUrl"], settings)
    for field, column in (("payloadTemplate", "payload_template"), ("headersTemplate", "headers_template")):
        if field in body:
            out[column] = _template(body[field], field)
    for field, column in _BOOLS.items():
        if field in body:
            out[column] = _bool(body[field], field)
    if "description" in body:
        out["description"] = _text(body["description"], "description", DESCRIPTION_MAX_CHARS)
    if "idempotencyKey" in body:
        out["idempotency_key"] = _key(body["idempotencyKey"])
    if "signingSecret" in body:
        out["signing_secret"] = _secret(body["signingSecret"])
    return out


def check_ad_hoc(hook: Any, settings: Settings) -> dict[str, Any]:
    """One item of the `webhooks` parameter (Apify's WebhookRepresentation; no condition: the run
    is the condition)."""
    if not isinstance(hook, dict):
        raise InvalidInput("Each webhook must be a JSON object.")
    fields = check_fields({k: v for k, v in hook.items() if k != "isAdHoc"}, settings, required=True)
    check_templates(
        fields.get("payload_template"),
        fields.get("headers_template"),
        fields.get("should_interpolate_strings", False),
    )
    return fields
