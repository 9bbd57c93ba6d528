"""Whether a process of this host still lives (its directories may then be left alone)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while `pid` exists, ours or another user's (signal 0 is only a check)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
