"""What a runner gets (RunSpec) and what the supervisor reports (RunOutcome)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    user_id: str
    username: str
    act_id: str
    actor_name: str
    actor_task_id: str | None
    build_id: str
    build_number: str
    source: dict[str, Any]
    options: dict[str, Any]
    default_key_value_store_id: str
    default_dataset_id: str
    default_request_queue_id: str
    started_at: str
    token: str

    @property
    def timeout_s(self) -> float | None:
        seconds = self.options.get("timeoutSecs") or 0
        return float(seconds) if seconds > 0 else None


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    timed_out: bool = False
    aborted: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
