"""Charging a pay-per-event run (POST /v2/actor-runs/:runId/charge), as Apify does.

What the API refuses: a run whose pricing is not pay-per-event (`cannot-charge-non-pay-per-event-actor`),
the platform's own events (`cannot-charge-apify-event`), an event the run's pricing does not define,
a run that has finished, and a run token charging any run but its own. What it does not check, as
Apify's docs say: the run's `maxTotalChargeUsd`. The SDKs keep within it themselves; a charge beyond
it is still answered 201 and counted.

An `idempotency-key` makes a retry the same charge: the key alone decides (Apify's SDK says so), so a
repeat is answered 201 again and counted once, whatever event and count it names. Greenroom keeps the
keys for the run's lifetime, where Apify forgets them after a few minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from server.errors import ApiError, Forbidden, InvalidInput, NotFound
from server.lifespan import AppState
from server.services.pricing import DEFAULT_DATASET_ITEM_EVENT, EVENT_NAME_MAX_CHARS, charge_events
from server.statuses import RunStatus
from server.storage.charges import (
    add_charge,
    charge_by_key,
    default_dataset_pricing,
    lock_run,
    was_charged,
)
from server.storage.ids import utcnow
from server.storage.models import Dataset, Run

IDEMPOTENCY_KEY_MAX_CHARS = 256  # run_charges.idempotency_key
MAX_CHARGE_COUNT = 1_000_000_000  # fits the count column with room for a run's total


@dataclass(frozen=True)
class Charge:
    """One charge as asked for: the event, how many, and the caller's idempotency key."""

    event_name: str
    count: int
    idempotency_key: str | None = None


def check_charge(body: dict[str, Any], idempotency_key: str | None) -> Charge:
    """The ChargeRunRequest body ({eventName, count}) and the idempotency-key header."""
    name = body.get("eventName")
    if not isinstance(name, str) or not name or len(name) > EVENT_NAME_MAX_CHARS or "\x00" in name:
        raise InvalidInput(f"'eventName' must be a string of 1 to {EVENT_NAME_MAX_CHARS} characters.")
    count = body.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_CHARGE_COUNT:
        raise InvalidInput(f"'count' must be a whole number from 1 to {MAX_CHARGE_COUNT}.")
    request_id = body.get("requestId")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'requestId' must be a string.")
    if idempotency_key is not None:
        key = idempotency_key.strip()
        if not key or len(key) > IDEMPOTENCY_KEY_MAX_CHARS:
            raise ApiError(
                f"The idempotency-key header must be 1 to {IDEMPOTENCY_KEY_MAX_CHARS} characters.",
                error_type="invalid-idempotency-key",
            )
    return Charge(name, count, idempotency_key)


async def charge_run(state: AppState, run: Run, token_run_id: str | None, charge: Charge) -> None:
    """Count the charge on the run (nothing when it repeats an idempotency key), in one transaction.

    `run` is the caller's own (the caller found it by their user); `token_run_id` is the run a run's
    token was made for (None for a user's own token): such a token charges its own run only.
    """
    if token_run_id is not None and token_run_id != run.id:
        raise Forbidden("A run's token can charge only its own run.")
    await state.db.quick_write(lambda session: _charge(session, run.id, charge))


def _charge(session: Session, run_id: str, charge: Charge) -> None:
    current = lock_run(session, run_id)
    if current is None:  # deleted since the caller found it
        raise NotFound(f"Actor run was not found (run ID: {run_id}).")
    # The run's row is held: a concurrent repeat of this key waits here, then finds the first.
    key = charge.idempotency_key
    if key is not None and charge_by_key(session, run_id, key) is not None:
        return  # a retry: answered as the first time, counted once
    events = charge_events(current["pricing_info"])
    if events is None:
        raise ApiError(
            "The Actor of this run does not use the pay-per-event pricing model,"
            " so the run cannot be charged.",
            error_type="cannot-charge-non-pay-per-event-actor",
        )
    if charge.event_name.startswith("apify-"):
        raise ApiError(
            f"Event '{charge.event_name}' is charged by the platform itself, not through this endpoint.",
            error_type="cannot-charge-apify-event",
        )
    event = events.get(charge.event_name)
    if event is None:
        defined = ", ".join(sorted(events)) or "none"
        raise InvalidInput(
            f"Event '{charge.event_name}' is not defined in the run's pricing (defined: {defined})."
        )
    if RunStatus(current["status"]).is_terminal:
        raise ApiError(
            f"Actor run has already finished (run ID: {run_id}, status: {current['status']});"
            " only a run that has not finished can be charged.",
        )
    if event.get("isOneTimeEvent") and was_charged(session, run_id, charge.event_name):
        return  # charged once per run: a second charge is answered, and not counted
    counts = dict(current["charged_event_counts"] or {})
    add_charge(session, run_id, charge.event_name, charge.count, charge.idempotency_key, utcnow(), counts)


def charge_default_dataset_items(session: Session, dataset: Dataset, count: int) -> None:
    """Apify's synthetic `apify-default-dataset-item`: the platform charges it for every item pushed to
    a run's default dataset when the run's pricing defines it (the SDKs count it, never send it).
    Inside the caller's transaction, with the items it appends."""
    if dataset.act_run_id is None or count <= 0:
        return
    pricing = default_dataset_pricing(session, dataset.act_run_id, dataset.id)
    if DEFAULT_DATASET_ITEM_EVENT not in (charge_events(pricing) or {}):
        return
    run_id = dataset.act_run_id
    current = lock_run(session, run_id)
    if current is not None:
        counts = dict(current["charged_event_counts"] or {})
        add_charge(session, run_id, DEFAULT_DATASET_ITEM_EVENT, count, None, utcnow(), counts)
