"""Apify's pricingInfos (pure): the checks on an actor's list, the entry in force when a run starts,
and the run-start rules of pay-per-event.

An actor keeps the whole history of its pricing; each entry is effective from its `startedAt`. A run
takes the entry in force when it starts (the latest `startedAt` not in the future) as its
`pricingInfo`, and keeps it: a later price change never alters a run that is going.

The platform fills what it sets itself: `createdAt` (now), `startedAt` (the same instant: in force at
once) and `apifyMarginPercentage` (0: there is no Apify margin on a self-hosted Greenroom).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from server.errors import ApiError, InvalidInput
from server.storage.ids import iso, utcnow

PAY_PER_EVENT = "PAY_PER_EVENT"
PRICING_MODELS = (PAY_PER_EVENT, "PRICE_PER_DATASET_ITEM", "FLAT_PRICE_PER_MONTH", "FREE")
# Events the platform charges by itself; any other `apify-` name is reserved.
ACTOR_START_EVENT = "apify-actor-start"
DEFAULT_DATASET_ITEM_EVENT = "apify-default-dataset-item"
SYNTHETIC_EVENTS = (ACTOR_START_EVENT, DEFAULT_DATASET_ITEM_EVENT)
EVENT_NAME_MAX_CHARS = 256  # run_charges.event_name
MAX_PRICING_INFOS = 100
MAX_CHARGE_EVENTS = 100


def is_finite_number(value: Any) -> bool:
    """A JSON number that is not a boolean, infinite, or an integer too large for a float."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _number(value: Any, field: str, *, maximum: float | None = None) -> float:
    ok = is_finite_number(value)
    if not ok or value < 0 or (maximum is not None and value > maximum):
        bound = f" and at most {maximum:g}" if maximum is not None else ""
        raise InvalidInput(f"'{field}' must be a number not less than 0{bound}.")
    return float(value) if isinstance(value, float) else value


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidInput(f"'{field}' must be a string.")
    return value


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"'{field}' must be a boolean.")
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"'{field}' must be a JSON object.")
    return value


def _instant(value: Any, field: str) -> str:
    """An ISO-8601 date-time with a time zone, as Greenroom writes them (UTC, milliseconds, Z)."""
    text = _string(value, field)
    shown = None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            shown = iso(moment)
    except (ValueError, OverflowError):  # not a date-time, or out of range once in UTC
        pass
    if not shown:
        raise InvalidInput(f"'{field}' must be an ISO 8601 date-time with a time zone.")
    return shown


def _tiers(value: Any, field: str, price_key: str) -> dict[str, Any]:
    tiers = _object(value, field)
    for tier, entry in tiers.items():
        _number(_object(entry, f"{field}.{tier}").get(price_key), f"{field}.{tier}.{price_key}")
    return tiers


def _one_price(entry: dict[str, Any], field: str, flat: str, tiered: str, tier_price: str) -> None:
    """Exactly one of a flat price and a tiered one (the spec's 'mutually exclusive')."""
    has_flat, has_tiered = entry.get(flat) is not None, entry.get(tiered) is not None
    if has_flat == has_tiered:
        raise InvalidInput(f"'{field}' must have exactly one of '{flat}' and '{tiered}'.")
    if has_flat:
        _number(entry[flat], f"{field}.{flat}")
    else:
        _tiers(entry[tiered], f"{field}.{tiered}", tier_price)


def _charge_event(name: Any, value: Any, field: str) -> dict[str, Any]:
    if not isinstance(name, str) or not name or len(name) > EVENT_NAME_MAX_CHARS or "\x00" in name:
        raise InvalidInput(f"'{field}' event names must be 1 to {EVENT_NAME_MAX_CHARS} characters.")
    where = f"{field}.{name}"
    if name.startswith("apify-") and name not in SYNTHETIC_EVENTS:
        raise ApiError(
            f"'{where}': event names starting with 'apify-' are reserved for the platform's own events"
            f" ({', '.join(SYNTHETIC_EVENTS)}).",
            error_type="cannot-add-apify-events-to-ppe-actor",
        )
    event = dict(_object(value, where))
    _string(event.get("eventTitle"), f"{where}.eventTitle")
    _string(event.get("eventDescription"), f"{where}.eventDescription")
    _one_price(event, where, "eventPriceUsd", "eventTieredPricingUsd", "tieredEventPriceUsd")
    for flag in ("isPrimaryEvent", "isOneTimeEvent"):
        if event.get(flag) is not None:
            _bool(event[flag], f"{where}.{flag}")
    if name == ACTOR_START_EVENT and event.get("isOneTimeEvent") is False:
        raise ApiError(
            f"'{where}.isOneTimeEvent': the Actor start event is charged once per run.",
            error_type="cannot-disable-one-time-event-for-apify-start-event",
        )
    return event


def _model_fields(entry: dict[str, Any], field: str) -> None:
    model = entry["pricingModel"]
    if model == PAY_PER_EVENT:
        per_event = dict(_object(entry.get("pricingPerEvent"), f"{field}.pricingPerEvent"))
        where = f"{field}.pricingPerEvent.actorChargeEvents"
        raw = per_event.get("actorChargeEvents")
        events = {} if raw is None else _object(raw, where)
        if len(events) > MAX_CHARGE_EVENTS:
            raise InvalidInput(f"'{where}' may hold at most {MAX_CHARGE_EVENTS} events.")
        # Always an object: the JS SDK reads its entries without a guard.
        per_event["actorChargeEvents"] = {n: _charge_event(n, v, where) for n, v in events.items()}
        entry["pricingPerEvent"] = per_event
        if entry.get("minimalMaxTotalChargeUsd") is not None:
            _number(entry["minimalMaxTotalChargeUsd"], f"{field}.minimalMaxTotalChargeUsd")
    elif model == "PRICE_PER_DATASET_ITEM":
        _string(entry.get("unitName"), f"{field}.unitName")
        _one_price(entry, field, "pricePerUnitUsd", "tieredPricing", "tieredPricePerUnitUsd")
    elif model == "FLAT_PRICE_PER_MONTH":
        minutes = entry.get("trialMinutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= 10**9:
            raise InvalidInput(f"'{field}.trialMinutes' must be a whole number from 0 to 10^9.")
        _number(entry.get("pricePerUnitUsd"), f"{field}.pricePerUnitUsd")


def check_pricing_info(value: Any, field: str, now: datetime) -> dict[str, Any]:
    """One entry, with what the platform sets filled in."""
    entry = dict(_object(value, field))
    if entry.get("pricingModel") not in PRICING_MODELS:
        raise InvalidInput(f"'{field}.pricingModel' must be one of {', '.join(PRICING_MODELS)}.")
    created = iso(now) or ""
    if "createdAt" in entry:
        created = _instant(entry["createdAt"], f"{field}.createdAt")
    entry["createdAt"] = created
    if "startedAt" in entry:
        entry["startedAt"] = _instant(entry["startedAt"], f"{field}.startedAt")
    else:
        entry["startedAt"] = created
    margin = entry.get("apifyMarginPercentage")
    if margin is None:
        entry["apifyMarginPercentage"] = 0
    else:
        entry["apifyMarginPercentage"] = _number(margin, f"{field}.apifyMarginPercentage", maximum=1)
    _model_fields(entry, field)
    return entry


def check_pricing_infos(value: Any) -> list[dict[str, Any]]:
    """The actor's `pricingInfos` (null: none). A bad entry is a 400 naming its field."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("'pricingInfos' must be an array of pricing info objects.")
    if len(value) > MAX_PRICING_INFOS:
        raise InvalidInput(f"'pricingInfos' may hold at most {MAX_PRICING_INFOS} entries.")
    now = utcnow()
    return [check_pricing_info(entry, f"pricingInfos[{i}]", now) for i, entry in enumerate(value)]


def _started(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["startedAt"]).astimezone(UTC)


def pricing_in_force(pricing_infos: list[dict[str, Any]], at: datetime) -> dict[str, Any] | None:
    """The entry effective at `at`: the latest `startedAt` not after it (of equal ones, the later in
    the list); None when every entry starts later, or there is none."""
    current: dict[str, Any] | None = None
    for entry in pricing_infos:
        if _started(entry) <= at and (current is None or _started(entry) >= _started(current)):
            current = entry
    return current


def charge_events(pricing_info: dict[str, Any] | None) -> dict[str, Any] | None:
    """The events of a pay-per-event pricing; None for any other pricing, or none."""
    if pricing_info is None or pricing_info.get("pricingModel") != PAY_PER_EVENT:
        return None
    return dict((pricing_info.get("pricingPerEvent") or {}).get("actorChargeEvents") or {})


def check_max_total_charge(pricing_info: dict[str, Any] | None, max_total_charge_usd: float | None) -> None:
    """A pay-per-event run's limit must be above 0 and not under the pricing's minimum."""
    if max_total_charge_usd is None or charge_events(pricing_info) is None:
        return
    assert pricing_info is not None
    if max_total_charge_usd <= 0:
        raise ApiError(
            "maxTotalChargeUsd must be greater than zero for a pay-per-event Actor.",
            error_type="max-total-charge-usd-must-be-greater-than-zero",
        )
    minimum = pricing_info.get("minimalMaxTotalChargeUsd")
    if minimum is not None and max_total_charge_usd < minimum:
        raise ApiError(
            f"maxTotalChargeUsd ({max_total_charge_usd:g}) is below this Actor's minimum ({minimum:g}).",
            error_type="max-total-charge-usd-below-minimum",
        )


def start_event_count(pricing_info: dict[str, Any] | None, memory_mbytes: int) -> int:
    """How many `apify-actor-start` events a start (or resurrection) costs: one per GB of memory, at
    least one; 0 when the pricing does not define the event."""
    events = charge_events(pricing_info)
    if events is None or ACTOR_START_EVENT not in events:
        return 0
    return max(1, memory_mbytes // 1024)
