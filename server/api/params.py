"""Query parameter parsing: each bad value becomes a 400 in Apify's envelope, before anything is written."""

from __future__ import annotations

import base64
import math
from typing import Any

from starlette.datastructures import Headers, QueryParams

from server import strict_json
from server.errors import InvalidInput, InvalidRequest
from server.run_options import MAX_SAFE_INTEGER, RunOverrides, check_memory
from server.services.webhook_checks import check_ad_hoc
from server.settings import Settings
from server.storage.key_value_stores import is_valid_key

_TRUE = {"1", "true"}
_FALSE = {"0", "false", ""}
# Ad-hoc webhooks one run start may attach (Apify's MAX_WEBHOOKS_PER_USER is 100).
MAX_AD_HOC_WEBHOOKS = 100


def parse_bool(params: QueryParams, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInput(f"Parameter '{name}' must be a boolean (true, false, 1 or 0).")


def parse_number(
    params: QueryParams, name: str, *, minimum: float = 0, maximum: float = MAX_SAFE_INTEGER
) -> float | None:
    """A number within [minimum, maximum]; anything else (NaN, 1e30, words) is a 400 naming the range."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"Parameter '{name}' must be a number.") from None
    if not math.isfinite(value) or value < minimum or value > maximum:
        raise InvalidInput(f"Parameter '{name}' must be a number between {minimum:g} and {maximum:.0f}.")
    return value


def parse_int(
    params: QueryParams, name: str, *, minimum: int = 0, maximum: int = MAX_SAFE_INTEGER
) -> int | None:
    value = parse_number(params, name, minimum=minimum, maximum=maximum)
    return None if value is None else int(value)


def wait_for_finish(params: QueryParams, settings: Settings) -> float:
    """waitForFinish in seconds, clamped to the maximum: clients send 999999 and rely on that."""
    value = parse_number(params, "waitForFinish") or 0.0
    return min(value, settings.wait_for_finish_max_s)


def output_record_key(params: QueryParams) -> str:
    key = params.get("outputRecordKey") or "OUTPUT"
    if not is_valid_key(key):
        raise InvalidInput(
            "Parameter 'outputRecordKey' is not a valid record key.", error_type="invalid-record-key"
        )
    return key


IDEMPOTENCY_KEY_MAX_CHARS = 256  # run_start_keys.key


def idempotency_key(params: QueryParams, headers: Headers) -> str | None:
    """A run start's Idempotency-Key header (or idempotencyKey parameter); None: none given."""
    key = headers.get("idempotency-key") or params.get("idempotencyKey") or None
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX_CHARS:
        raise InvalidInput(
            f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX_CHARS} characters",
            error_type="invalid-idempotency-key",
        )
    return key


def parse_webhooks(raw: str | None, settings: Settings) -> list[dict[str, Any]] | None:
    """The `webhooks` parameter: standard Base64 of a JSON array of {eventTypes, requestUrl, ...}.

    Every item is checked as a webhook is (server/services/webhook_checks.py); the result is their
    column values, written as ad-hoc webhooks of the run when it is created.
    """
    if raw is None or raw == "":
        return None
    try:
        value = strict_json.loads(base64.b64decode(raw, validate=True), settings)
    # ValueError: a non-ASCII value (b64decode refuses it); binascii.Error is one too.
    except (ValueError, InvalidRequest):
        raise InvalidInput("Parameter 'webhooks' must be a Base64-encoded JSON array.") from None
    if not isinstance(value, list):
        raise InvalidInput("Parameter 'webhooks' must be a Base64-encoded JSON array.")
    if len(value) > MAX_AD_HOC_WEBHOOKS:
        raise InvalidInput(f"Parameter 'webhooks' may hold at most {MAX_AD_HOC_WEBHOOKS} webhooks.")
    return [check_ad_hoc(hook, settings) for hook in value]


def parse_build(params: QueryParams) -> str | None:
    build = params.get("build") or None
    if build is not None and "\x00" in build:
        raise InvalidInput("Parameter 'build' must be a build tag or number.")
    return build


def run_overrides(params: QueryParams, settings: Settings) -> RunOverrides:
    memory = parse_int(params, "memory")
    return RunOverrides(
        timeout_s=parse_int(params, "timeout", maximum=settings.max_run_timeout_s),
        memory_mbytes=None if memory is None else check_memory(memory, settings),
        build=parse_build(params),
        max_items=parse_int(params, "maxItems"),
        max_total_charge_usd=parse_number(params, "maxTotalChargeUsd"),
        restart_on_error=parse_bool(params, "restartOnError"),
        webhooks=parse_webhooks(params.get("webhooks"), settings),
    )
