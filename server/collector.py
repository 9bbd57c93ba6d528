"""How often Python's cyclic garbage collector runs in Greenroom's own long-lived processes: the API
and the workers. An actor's process (a forked callable) collects at Python's default pace again."""

from __future__ import annotations

import gc

# Python collects its youngest generation after every 700 new container objects. An API process
# holding 12,000 requests spent about a fifth of its CPU in the collector while it answered them
# (bench/hold.py: 187-208 us of CPU an answer, 154-161 with this); reference counting frees almost
# everything a request makes, so those collections found little. Cyclic garbage waits longer: for
# at most this many new objects.
YOUNGEST_THRESHOLD = 10_000
_DEFAULT = gc.get_threshold()


def collect_less() -> None:
    gc.set_threshold(YOUNGEST_THRESHOLD, *_DEFAULT[1:])


def collect_as_python_does() -> None:
    gc.set_threshold(*_DEFAULT)
