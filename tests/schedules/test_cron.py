"""Cron expressions as Apify's schedules take them, in their timezone, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.schedules.cron import Cron, InvalidCron


def _times(cron: Cron, after: datetime, count: int) -> list[str]:
    times = []
    for _ in range(count):
        after = cron.next_after(after)
        times.append(after.strftime("%m-%d %H:%M:%S"))
    return times


def test_five_fields_in_utc_and_the_next_time_is_strictly_after() -> None:
    cron = Cron("*/15 * * * *")
    assert _times(cron, datetime(2026, 1, 1, 0, 0, tzinfo=UTC), 3) == [
        "01-01 00:15:00",
        "01-01 00:30:00",
        "01-01 00:45:00",
    ]


def test_six_fields_read_seconds_first() -> None:
    cron = Cron("*/20 * * * * *")
    assert _times(cron, datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC), 3) == [
        "01-01 00:00:20",
        "01-01 00:00:40",
        "01-01 00:01:00",
    ]


@pytest.mark.parametrize(
    ("shortcut", "first"),
    [
        ("@hourly", "2026-01-01 01:00"),
        ("@daily", "2026-01-02 00:00"),
        ("@midnight", "2026-01-02 00:00"),
        ("@weekly", "2026-01-04 00:00"),  # Sunday
        ("@monthly", "2026-02-01 00:00"),
        ("@yearly", "2027-01-01 00:00"),
        ("@annually", "2027-01-01 00:00"),
        ("@DAILY", "2026-01-02 00:00"),
    ],
)
def test_apifys_shortcuts(shortcut: str, first: str) -> None:
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # a Thursday
    assert Cron(shortcut).next_after(start).strftime("%Y-%m-%d %H:%M") == first


def test_local_time_in_the_schedules_timezone() -> None:
    """09:00 in Prague is 08:00 UTC in winter and 07:00 UTC in summer."""
    cron = Cron("0 9 * * *", "Europe/Prague")
    assert _times(cron, datetime(2026, 1, 10, 12, tzinfo=UTC), 1) == ["01-11 08:00:00"]
    assert _times(cron, datetime(2026, 7, 10, 12, tzinfo=UTC), 1) == ["07-11 07:00:00"]


def test_spring_forward_a_time_that_does_not_exist_is_due_after_the_gap() -> None:
    """Prague, 2026-03-29: 02:00 CET jumps to 03:00 CEST. 02:30 does not exist that day: due at
    03:00 CEST (01:00 UTC), once; the next day at 02:30 CEST (00:30 UTC)."""
    cron = Cron("30 2 * * *", "Europe/Prague")
    assert _times(cron, datetime(2026, 3, 28, 12, tzinfo=UTC), 3) == [
        "03-29 01:00:00",
        "03-30 00:30:00",
        "03-31 00:30:00",
    ]


def test_fall_back_a_time_that_happens_twice_is_due_once() -> None:
    """Prague, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice, due once."""
    cron = Cron("30 2 * * *", "Europe/Prague")
    assert _times(cron, datetime(2026, 10, 24, 12, tzinfo=UTC), 3) == [
        "10-25 00:30:00",
        "10-26 01:30:00",
        "10-27 01:30:00",
    ]


def test_an_every_half_hour_schedule_keeps_its_pace_through_both_changes() -> None:
    fall = Cron("*/30 * * * *", "Europe/Prague")
    assert _times(fall, datetime(2026, 10, 24, 23, 0, tzinfo=UTC), 5) == [
        "10-24 23:30:00",
        "10-25 00:00:00",
        "10-25 00:30:00",  # 02:30 CEST
        "10-25 01:00:00",  # 02:00 CET, the hour again
        "10-25 01:30:00",
    ]
    spring = Cron("0 * * * *", "America/New_York")  # 2026-03-08: 02:00 EST jumps to 03:00 EDT
    assert _times(spring, datetime(2026, 3, 8, 5, 0, tzinfo=UTC), 3) == [
        "03-08 06:00:00",  # 01:00 EST
        "03-08 07:00:00",  # 03:00 EDT
        "03-08 08:00:00",
    ]


@pytest.mark.parametrize(
    ("expression", "timezone", "says"),
    [
        ("* * *", "UTC", "must have 5 fields"),
        ("* * * * * * *", "UTC", "must have 5 fields"),
        ("61 * * * *", "UTC", "is not valid"),
        ("* * 32 * *", "UTC", "is not valid"),
        ("@sometimes", "UTC", "must have 5 fields"),
        ("* * * * *", "Mars/Olympus_Mons", "is not an IANA time zone"),
        ("* * * * *", "../../etc/passwd", "is not an IANA time zone"),
        ("*" * 300, "UTC", "at most 256 characters"),
    ],
)
def test_what_cannot_be_used_says_why(expression: str, timezone: str, says: str) -> None:
    with pytest.raises(InvalidCron, match=says):
        Cron(expression, timezone)
