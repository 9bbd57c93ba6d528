"""A log line's time (server/observability/logs.py): the second's text is made once a second, and
the line says what datetime would have said, to the millisecond."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime

from server.observability.logs import _time


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("greenroom.test", logging.INFO, __file__, 1, "line", None, None)
    record.created = created
    return record


def _as_datetime_says(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_each_line_has_its_own_second_and_millisecond() -> None:
    rng = random.Random(7)
    base = 1_796_000_000.0
    moments = [base + rng.uniform(0, 5) for _ in range(2_000)]
    # Across seconds, back in time, and where rounding to the microsecond carries into the next second.
    moments += [base + 0.9999996, base + 1.0, base + 0.9994999, base - 3600.5, base + 59.999, base + 0.0005]
    for created in moments:
        assert _time(_record(created)) == _as_datetime_says(created), created
