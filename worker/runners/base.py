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
    origin: str = "API"
    # The tags (latest, beta...) that point at this build now.
    build_tags: tuple[str, ...] = ()
    # The build's status when the run was claimed (a run may start before its build ends), and
    # whether it shares its directory with builds of the same files (Apify's useCache).
    build_status: str = "SUCCEEDED"
    use_cache: bool = True
    # The record its input is in: INPUT, or a metamorph's INPUT-METAMORPH-<n>.
    input_key: str = "INPUT"
    # Pay-per-event: the run's pricing and what it had charged when this attempt started.
    pricing_info: dict[str, Any] | None = None
    charged_event_counts: dict[str, int] = field(default_factory=dict)

    @property
    def timeout_s(self) -> float | None:
        seconds = self.options.get("timeoutSecs") or 0
        return float(seconds) if seconds > 0 else None


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    timed_out: bool = False
    aborted: bool = False
    # Went over its memory limit (killed by the kernel's OOM killer or by the supervisor).
    out_of_memory: bool = False
    # Stopped because its worker was told to stop and the grace period ran out (worker/shutdown.py).
    worker_stopped: bool = False
    # Stopped because the run was rebooted or metamorphed: the job starts it again (worker/reboots.py).
    rebooted: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
