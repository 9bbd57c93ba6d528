"""Bounds and counters per run (or per user, for a user's own password), in this proxy process.

Each proxy process counts for itself: a deployment with N worker machines lets a run have N times
the connections, and its bytes are counted per machine it used. (The proxy's own bound on all its
connections is in server.py: it counts connections before they authenticate.)
"""

from __future__ import annotations

from dataclasses import dataclass

_KEEP_MAX = 10_000


class OverLimit(Exception):
    """Raised when a run (or user) is over one of the proxy's bounds."""


@dataclass
class Usage:
    active: int = 0
    connections: int = 0
    bytes: int = 0


class Meter:
    def __init__(self, max_connections_per_key: int, max_bytes_per_key: int):
        self.max_connections_per_key = max_connections_per_key
        self.max_bytes_per_key = max_bytes_per_key
        self.usages: dict[str, Usage] = {}

    def open(self, key: str) -> Usage:
        """Count a new connection of `key` (a run or user); OverLimit if it may not have one."""
        usage = self.usages.get(key)
        if usage is None:
            if len(self.usages) >= _KEEP_MAX:  # finished runs' counters go first
                self.usages = {k: u for k, u in self.usages.items() if u.active}
            usage = self.usages[key] = Usage()
        if usage.active >= self.max_connections_per_key:
            raise OverLimit(f"This {key.split()[0]} has {usage.active} proxy connections open, its limit.")
        self.check_bytes(usage)
        usage.active += 1
        usage.connections += 1
        return usage

    def close(self, usage: Usage) -> None:
        usage.active -= 1

    def check_bytes(self, usage: Usage) -> None:
        if self.max_bytes_per_key and usage.bytes >= self.max_bytes_per_key:
            raise OverLimit(f"The proxy's byte limit per run ({self.max_bytes_per_key}) is used up.")
