"""A user's monthly usage (GET /v2/users/me/usage/monthly), from what Greenroom records.

The usage cycle is the calendar month (UTC) that holds the asked-for date (today unless given).
Apify's cycles follow a subscription's billing day; a self-hosted Greenroom bills no one.

Measured: ACTOR_COMPUTE_UNITS, the compute units of the user's runs started in the cycle (their
stats' computeUnits: memory GB x hours, as the workers count them), per day and for the month.
Greenroom meters no data transfer, proxy or per-operation storage use, so those items are absent,
and it has no prices: every amount in USD is 0. Beside Apify's fields, `counts` says what the
cycle made: runs, builds, and datasets, key-value stores and request queues created.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from server.storage.db import Database
from server.storage.ids import iso, utcnow
from server.storage.models import Build, Dataset, KeyValueStore, RequestQueue, Run, User

COMPUTE_UNITS = "ACTOR_COMPUTE_UNITS"


def usage_cycle(day: date) -> tuple[datetime, datetime]:
    """The first and the last millisecond of day's month (UTC)."""
    start = datetime.combine(day.replace(day=1), time(), UTC)
    last_day = calendar.monthrange(day.year, day.month)[1]
    end = datetime.combine(day.replace(day=last_day), time(23, 59, 59, 999000), UTC)
    return start, end


def _item(quantity: float) -> dict[str, Any]:
    return {
        "quantity": quantity,
        "baseAmountUsd": 0.0,
        "baseUnitPriceUsd": 0.0,
        "amountAfterVolumeDiscountUsd": 0.0,
        "priceTiers": [],
    }


def _as_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


async def _count(db: Database, model: Any, column: Any, user: User, start: datetime, end: datetime) -> int:
    stmt = select(func.count()).where(model.user_id == user.id, column >= start, column <= end)
    async with db.read() as session:
        return int((await session.execute(stmt)).scalar_one())


async def monthly_usage(db: Database, user: User, day: date | None = None) -> dict[str, Any]:
    """Apify's MonthlyUsage for the cycle holding `day` (default: today)."""
    start, end = usage_cycle(day or utcnow().date())
    stmt = select(Run.started_at, Run.stats).where(
        Run.user_id == user.id, Run.started_at >= start, Run.started_at <= end
    )
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    per_day: dict[date, float] = {}
    for started_at, stats in rows:
        units = (stats or {}).get("computeUnits") or 0
        if isinstance(units, int | float) and not isinstance(units, bool):
            on = _as_utc(started_at).date()
            per_day[on] = per_day.get(on, 0.0) + float(units)
    # Every day of the cycle so far (the whole month for a past one), as Apify lists them.
    last = min(end.date(), max(utcnow().date(), start.date()))
    days = [start.date() + timedelta(days=n) for n in range((last - start.date()).days + 1)]
    daily = [
        {
            "date": iso(datetime.combine(d, time(), UTC)),
            "serviceUsage": {COMPUTE_UNITS: _item(round(per_day.get(d, 0.0), 6))},
            "totalUsageCreditsUsd": 0.0,
        }
        for d in days
    ]
    counts = {
        "runs": len(rows),
        "builds": await _count(db, Build, Build.started_at, user, start, end),
        "datasets": await _count(db, Dataset, Dataset.created_at, user, start, end),
        "keyValueStores": await _count(db, KeyValueStore, KeyValueStore.created_at, user, start, end),
        "requestQueues": await _count(db, RequestQueue, RequestQueue.created_at, user, start, end),
    }
    return {
        "usageCycle": {"startAt": iso(start), "endAt": iso(end)},
        "monthlyServiceUsage": {COMPUTE_UNITS: _item(round(sum(per_day.values()), 6))},
        "dailyServiceUsages": daily,
        "totalUsageCreditsUsdBeforeVolumeDiscount": 0.0,
        "totalUsageCreditsUsdAfterVolumeDiscount": 0.0,
        "counts": counts,
    }
