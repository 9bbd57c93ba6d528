"""What a soak (bench/soak.py) knows while it runs: its Greenroom, the answers its clients got, and
what its faults did. The clients, the fault injector and the checks at the end all share it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from server.embedded_redis import EmbeddedRedis
from server.settings import Settings
from server.storage.db import SyncDatabase


@dataclass
class Answer:
    n: int
    status: int | None  # None: lost (no HTTP answer)
    body: Any
    error: str | None = None


@dataclass
class Soak:
    settings: Settings
    token: str
    act_id: str
    db: SyncDatabase
    redis: EmbeddedRedis
    pool_pid: int
    answers: list[Answer] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    detect_s: list[float] = field(default_factory=list)
    killed_workers: set[int] = field(default_factory=set)
    sending: threading.Event = field(default_factory=threading.Event)
