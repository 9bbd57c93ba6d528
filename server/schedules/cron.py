"""A schedule's cron expression as Apify takes it, and its due times in the schedule's timezone.

Apify's expressions: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first,
or one of the shortcuts below. cronsim does the parsing and the arithmetic: it is maintained (by
healthchecks.io, whose business is cron schedules), has no dependencies, reads the seconds field
first as Apify does, and steps through daylight-saving changes as cron does: a time that does not
exist that day (spring forward) is due at the first minute after the gap, and a time that happens
twice (fall back) is due once. croniter, the other candidate, reads a sixth field as seconds at the
end unless told, needs python-dateutil (whose pinned version our Celery bench peer conflicts with)
and was declared unmaintained in 2024 before moving to pallets-eco.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

# Apify's shortcuts (they are cron's own).
SHORTCUTS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_EXPRESSION_CHARS = 256


class InvalidCron(ValueError):
    """The expression or timezone cannot be used; the message says why, for the API's 400."""


class Cron:
    """A cron expression in a timezone (an IANA name: "UTC", "Europe/Prague")."""

    def __init__(self, expression: str, timezone: str = "UTC"):
        if len(expression) > MAX_EXPRESSION_CHARS:
            raise InvalidCron(f"cronExpression must be at most {MAX_EXPRESSION_CHARS} characters")
        self.expression = expression.strip()
        self._fields = SHORTCUTS.get(self.expression.lower(), self.expression)
        if len(self._fields.split()) not in (5, 6):
            raise InvalidCron(
                f'cronExpression "{expression}" must have 5 fields (minute hour day month weekday), '
                "6 with seconds first, or be one of " + ", ".join(SHORTCUTS)
            )
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidCron(
                f'timezone "{timezone}" is not an IANA time zone (e.g. "Europe/Prague")'
            ) from exc
        self.timezone = timezone
        try:
            CronSim(self._fields, datetime.now(self.zone))
        except CronSimError as exc:
            raise InvalidCron(f'cronExpression "{expression}" is not valid: {exc}') from exc

    def next_after(self, moment: datetime) -> datetime:
        """The first due time strictly after `moment` (aware), in UTC."""
        local = moment.astimezone(self.zone)
        return next(CronSim(self._fields, local)).astimezone(UTC)
