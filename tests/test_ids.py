"""server/storage/ids.py: ids and tokens are Apify-shaped, distinct, and draw every alphanumeric
equally often (a byte taken modulo 62 without rejecting the top eight values would favour the first
eight characters by a quarter)."""

from __future__ import annotations

import collections
import re
import string
from datetime import UTC, datetime, timedelta, timezone

from server.storage.ids import ID_RE, iso, new_id, new_token


def test_ids_and_tokens_are_shaped_as_apify_s_and_distinct() -> None:
    ids = [new_id() for _ in range(5000)]
    assert all(ID_RE.match(each) for each in ids)
    assert len(set(ids)) == len(ids)
    tokens = [new_token() for _ in range(1000)]
    assert all(re.fullmatch(r"apify_api_[a-zA-Z0-9]{36}", token) for token in tokens)
    assert len(set(tokens)) == len(tokens)


def test_every_alphanumeric_is_drawn_equally_often() -> None:
    counts = collections.Counter("".join(new_id() for _ in range(20_000)))
    alphabet = string.ascii_letters + string.digits
    assert set(counts) == set(alphabet)
    expected = 20_000 * 17 / len(alphabet)  # 5,484; one standard deviation is about 73
    assert all(abs(counts[c] - expected) < 0.15 * expected for c in alphabet), counts.most_common(10)


def test_times_are_shown_in_utc_with_milliseconds_and_z() -> None:
    # SQLite hands back naive times (stored in UTC); PostgreSQL aware ones, in any zone.
    assert iso(datetime(2026, 12, 7, 4, 40, 52, 564_999)) == "2026-12-07T04:40:52.564Z"  # cut, not rounded
    assert iso(datetime(2026, 12, 7, 4, 40, 52)) == "2026-12-07T04:40:52.000Z"
    assert iso(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"
    five_behind = timezone(timedelta(hours=-5))
    assert iso(datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=five_behind)) == "2027-01-01T04:59:59.999Z"
    assert iso(datetime(999, 1, 2, 3, 4, 5)) == "0999-01-02T03:04:05.000Z"  # four digits, as ISO 8601 has it
    assert iso(None) is None
