"""An actor's stats as GET /v2/acts/:actorId shows them (Apify's ActorStats), counted from its runs
and builds. Every actor here is private, so its only user is its owner: the user counts are 1 (the
owner, whom Apify counts too) and, per period, whether the owner started a run in it. Store metrics
(reviews, bookmarks, public run stats) have no meaning here and are left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.ids import iso, utcnow
from server.storage.models import Actor, Build, Run


async def actor_stats(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    runs, last_run = (
        await session.execute(select(func.count(), func.max(Run.started_at)).where(Run.act_id == actor.id))
    ).one()
    builds = (await session.execute(select(func.count()).where(Build.act_id == actor.id))).scalar_one()
    stats: dict[str, Any] = {"totalBuilds": builds, "totalRuns": runs, "totalUsers": 1}
    for days in (7, 30, 90):
        recent = last_run is not None and _aware(last_run) >= utcnow() - timedelta(days=days)
        stats[f"totalUsers{days}Days"] = 1 if recent else 0
    if last_run is not None:
        stats["lastRunStartedAt"] = iso(last_run)
    return stats


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive (they are stored as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
