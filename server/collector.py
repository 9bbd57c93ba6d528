"""How often Python's cyclic garbage collector runs in the API process."""

from __future__ import annotations

import gc

# Python collects its youngest generation after every 700 new container objects. An API process
# holding 12,000 requests spent about a fifth of its CPU in the collector while it answered them
# (bench/hold.py, three runs each: 198, 193, 207 us of CPU an answer, then 163, 164, 173 with this;
# 152-153 with the collector off); reference counting frees almost
# everything a request makes, so those collections found little. Cyclic garbage waits longer: for
# at most this many new objects. (The workers keep Python's pace: bench/cost.py saw no change in
# them, and their actors' processes inherit it.)
YOUNGEST_THRESHOLD = 10_000


def collect_less() -> None:
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNGEST_THRESHOLD, middle, oldest)
