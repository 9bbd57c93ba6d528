"""Greenroom's configuration: one frozen object, read from the environment once per process."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

MIB = 1024 * 1024
MEMORY_LIMIT_MODES = ("auto", "cgroup", "poll", "off")
SANDBOX_MODES = ("on", "auto", "off")
LOG_FORMATS = ("text", "json")
# Apify's webhook retry schedule: about 1 minute, then doubling, 11 retries (some 34 hours in all).
APIFY_WEBHOOK_RETRY_DELAYS_S = tuple(60.0 * 2**i for i in range(11))
# The per-user limits (Settings attributes) a user can have overridden (`greenroom users limits`).
USER_LIMIT_NAMES = (
    "max_concurrent_runs",
    "max_running_memory_mbytes",
    "max_run_memory_mbytes",
    "max_ready_runs",
)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"GREENROOM_{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _count(name: str, value: str) -> int:
    """A whole number >= 0 (0: off, for the limits). A negative cap would hold every request."""
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(f"GREENROOM_{name} must be a whole number >= 0 (0: no limit), not {value!r}")
    return count


def _delays(value: str) -> tuple[float, ...]:
    """A comma list of seconds (empty: no retries)."""
    delays = tuple(float(part) for part in value.split(",") if part.strip())
    if any(not delay >= 0 for delay in delays):
        raise ValueError(f"GREENROOM_WEBHOOK_RETRY_DELAYS_S must be seconds >= 0, not {value!r}")
    return delays


def _uid_range(value: str) -> range:
    """`FIRST-LAST`, inclusive, unprivileged (1000 and up)."""
    first, _, last = value.partition("-")
    try:
        uids = range(int(first), int(last) + 1)
    except ValueError:
        uids = range(0)
    if not uids or uids[0] < 1000 or uids[-1] > 2**32 - 2:
        raise ValueError(
            f"GREENROOM_SANDBOX_UIDS must be FIRST-LAST with 1000 <= FIRST <= LAST, not {value!r}"
        )
    return uids


def _port_range(value: str) -> range:
    """`FIRST-LAST`, inclusive, ports 1024 to 65535."""
    first, _, last = value.partition("-")
    try:
        ports = range(int(first), int(last) + 1)
    except ValueError:
        ports = range(0)
    if not ports or ports[0] < 1024 or ports[-1] > 65535:
        raise ValueError(
            f"GREENROOM_STANDBY_PORTS must be FIRST-LAST with 1024 <= FIRST <= LAST <= 65535, not {value!r}"
        )
    return ports


def _secrets_key(value: str) -> str:
    if value:
        from server.secrets import check_key

        check_key(value)
    return value


def _paths(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _format_range(uids: range) -> str:
    return f"{uids[0]}-{uids[-1]}"


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes")


_PROXY_GROUP_RE = re.compile(r"^[\w.~]+$")  # what the SDKs accept in `groups-A+B`


def _proxy_groups(value: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """JSON {"GROUP": ["http://user:pass@host:port", ...]}: the upstream proxies of each group."""
    problem = f'GREENROOM_PROXY_GROUPS must be JSON {{"GROUP": ["http://host:port", ...]}}, not {value!r}'
    try:
        groups = json.loads(value or "{}")
    except ValueError:
        raise ValueError(problem) from None
    if not isinstance(groups, dict):
        raise ValueError(problem)
    parsed = []
    for name, urls in sorted(groups.items()):
        if not _PROXY_GROUP_RE.fullmatch(name) or not isinstance(urls, list) or not urls:
            raise ValueError(problem)
        for url in urls:
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme != "http" or not parts.hostname or not parts.port:
                raise ValueError(f"GREENROOM_PROXY_GROUPS: {url!r} is not http://[user:pass@]host:port")
        parsed.append((name, tuple(urls)))
    return tuple(parsed)


@dataclass(frozen=True)
class Settings:
    """Every tunable of Greenroom. Units are in the names. Tests build it directly."""

    data_dir: Path = Path("data")
    database_url: str = ""  # empty: a SQLite file in data_dir
    redis_url: str = "redis://127.0.0.1:6379/0"
    host: str = "127.0.0.1"
    port: int = 8000
    # The API's root (no /v2) as its clients reach it: Location headers and resource URLs.
    # Empty: http://{host}:{port}.
    public_base_url: str = ""
    # The API's root as actors on the workers reach it (APIFY_API_BASE_URL). Empty: public_base_url.
    internal_base_url: str = ""
    # Prefix of every Redis key and channel, so several deployments (or test sessions) share a Redis.
    redis_prefix: str = "greenroom"
    # run-sync holds the request at most this long, then answers 408 (the run goes on).
    run_sync_wait_s: float = 300.0
    # A run-sync streaming its run's events (Accept: text/event-stream) sends a comment line after
    # this long without an event, so that proxies never see an idle connection.
    event_stream_keepalive_s: float = 15.0
    # A schedule's due time missed (nothing swept: an outage) fires when the sweeps resume, unless it
    # is later than this; then it is logged as missed (server/schedules/firing.py).
    schedule_max_late_s: float = 3600.0
    # Schedules one user may have (Apify's: 100; 0: no limit). Each is read by every sweep when due.
    max_schedules_per_user: int = 100
    # Actor Standby (server/standby/): the ports standby runs listen on (closed to sandboxed actors;
    # below Linux's ephemeral range, so no outgoing connection takes one), the host the API reaches
    # a worker's standby runs at, and a wildcard host under which <username>--<actor>.<host> is an
    # actor's standby URL ('': only the path /v2/actor-standby/<username>--<actor>/).
    standby_ports: range = range(30000, 31000)
    standby_worker_host: str = "127.0.0.1"
    standby_host: str = ""
    # A standby request waits this long for a run to answer the readiness probe (then 504), and
    # this long for the actor's answer to start (then 504).
    standby_start_timeout_s: float = 120.0
    standby_request_timeout_s: float = 300.0
    # Standby runs one user may have of one actor at once (a request beyond them waits for room; 0:
    # no limit).
    standby_max_runs: int = 10
    # waitForFinish above this is clamped, never rejected.
    wait_for_finish_max_s: float = 60.0
    # Request bodies (decoded) above this get 413.
    max_body_bytes: int = 9 * MIB
    # Key-value records above this get 413.
    max_record_bytes: int = 9 * MIB
    # Hostile input (server/api/body.py, server/http_limits.py): JSON nested deeper than this, or with
    # an integer of more digits, is a 400; so is a dataset push of more items. A run's timeout above
    # max_run_timeout_s is a 400. A connection gets header_timeout_s to send its request's headers, and
    # body_timeout_s between two pieces of its body (408 after it).
    max_json_depth: int = 128
    max_json_integer_digits: int = 1000
    max_push_items: int = 100_000
    max_run_timeout_s: int = 7 * 24 * 3600
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    # GET .../key-value-store(s)/.../records (the ZIP of a store's records) refuses a store (or prefix)
    # whose records hold more than this many bytes, or more than this many records.
    records_archive_max_bytes: int = 1024 * MIB
    records_archive_max_records: int = 100_000
    # Run defaults when neither the request, the task nor the actor says otherwise.
    default_run_timeout_s: int = 3600
    default_memory_mbytes: int = 1024
    min_memory_mbytes: int = 128
    max_memory_mbytes: int = 32768
    # Per-user limits (server/services/limits.py; each can be overridden per user with
    # `greenroom users limits` or PUT /v2/users/me/limits). A run beyond the running limits is accepted
    # and waits in READY; the workers take READY runs fairly between users (worker/fair.py).
    # Runs RUNNING at once (Apify: 25 free, 250 paid); total memory of those runs (Apify's free plan:
    # 16,384 MB); the memory one run may ask for; runs waiting in READY beyond which a start is
    # refused (402 concurrent-runs-limit-exceeded).
    max_concurrent_runs: int = 25
    max_running_memory_mbytes: int = 32768
    max_run_memory_mbytes: int = 32768
    max_ready_runs: int = 1000
    # Requests per second per token (without one, per client IP), over all endpoints and per resource
    # (one actor, run, dataset, store...), as Apify counts them (Apify: 250,000 a minute overall; 60/s
    # per resource, 200/s on key-value records, 400/s on run starts, pushes and request-queue
    # requests). Beyond: 429 rate-limit-exceeded. 0: no limit. Counted in Redis; Redis away: not counted.
    rate_limit_per_s: int = 4000
    rate_limit_resource_per_s: int = 60
    rate_limit_record_per_s: int = 200
    rate_limit_heavy_per_s: int = 400
    # Requests one token (without one, one client IP) may have in progress on one API process; its
    # next ones wait their turn, up to max_queued_per_caller, beyond which 429 (server/in_flight.py).
    # A request waiting on a run, a build or a log (run-sync, waitForFinish, stream=1) does not count
    # while it waits. 0: no cap.
    max_in_flight_per_caller: int = 8
    max_queued_per_caller: int = 256
    # Usernames that may change limits through the API (PUT /v2/users/me/limits).
    admin_usernames: tuple[str, ...] = ("admin",)
    # How a run's memory limit is enforced: auto (cgroup v2, else v1, else poll), cgroup (v2 or v1
    # only: a run fails when neither is writable), poll (sample the actor's memory, kill it when
    # over), off (measure only).
    memory_limit: str = "auto"
    # SOURCE_FILES actors and their build steps run in a sandbox (worker/sandbox/): on (required: a
    # worker that cannot make one says so and fails such runs and builds), auto (sandboxed where
    # possible; elsewhere unsandboxed, said loudly: `greenroom dev`'s default), off.
    sandbox: str = "on"
    # The uids (= gids) sandboxes run as: one per concurrent sandbox on the machine.
    sandbox_uids: range = range(200000, 201000)
    # Where the workers of this machine lock the uids they hold (one directory for the machine).
    sandbox_lock_dir: Path = Path("/run/greenroom/uids")
    # Read-only paths a sandbox sees beyond /usr, /etc and the Python and node toolchains.
    sandbox_read_only_paths: tuple[str, ...] = ()
    # Modules (or packages: every module under them) whose functions PYTHON_CALLABLE versions may
    # name: trusted code installed with the workers, run outside the sandbox. Empty: none.
    callable_modules: tuple[str, ...] = ()
    # How many runs one callable's process serves, one after another, for the same user and callable
    # before a new process takes over (worker/runners/standby.py); 1: a new process for every run.
    callable_process_runs: int = 100
    # Seals secret env vars at rest (server/secrets.py): 32+ random bytes, base64. Empty: secret
    # env vars cannot be stored (`greenroom dev` makes one in <data dir>/secrets-key).
    secrets_key: str = ""
    # Per run: at most this many processes and threads (0: no limit), this CPU share (cgroup v1
    # cpu.shares; v2 cpu.weight = shares * 100 / 1024), at most this many cores (0: no cap).
    run_pids_max: int = 4096
    run_cpu_shares: int = 1024
    run_cpu_cores: float = 0.0
    # The run log is cut at this many characters (Apify's LOG_MAX_CHARS).
    log_max_chars: int = 10_485_760
    # Worker processes started by `greenroom worker` and `greenroom dev`.
    worker_processes: int = 2
    # After SIGTERM, a timed-out or aborted actor gets this long before SIGKILL.
    kill_grace_s: float = 2.0
    # A worker told to stop (SIGTERM, a deploy) lets its running actor go on this long, then stops it
    # and ends the run: FAILED, or back in the queue under restartOnError.
    worker_stop_grace_s: float = 30.0
    # An abort with gracefully=true: SIGTERM, then SIGKILL this much later (Apify waits 30 s).
    abort_grace_s: float = 30.0
    # A worker renews its lease on a running run every third of this; a run whose lease lapsed (its
    # worker died) is failed, or restarted under restartOnError, by the sweeper.
    run_lease_s: float = 9.0
    # The sweeper (every worker pool and API process, one at a time) sweeps this often: expired
    # leases, and READY runs whose job was lost.
    sweep_interval_s: float = 2.0
    # The lease on the Redis lock that makes one process the deployment's sweeper: renewed at each
    # sweep; a process that died holding it is replaced this long after its last renewal. At most
    # run_lease_s, so a lost worker pool that held it delays nothing beyond its runs' own leases.
    sweep_lock_s: float = 6.0
    # A run still READY this long after its start, with no job waiting in Redis, is enqueued again.
    orphan_after_s: float = 10.0
    # Finished runs (with their logs and unnamed storages) and unnamed storages no run owns are
    # deleted by the sweeper this long after they ended or were last used; 0 keeps them forever.
    # Apify keeps unnamed storages 7 days on its free plan; named storages are always kept.
    retention_days: float = 7.0
    # A build (pip install, npm install) is stopped and TIMED-OUT after this long (Apify: 1800 s).
    build_timeout_s: float = 1800.0
    # Process actors: the Apify SDK emits persistState this often (APIFY_PERSIST_STATE_INTERVAL_MILLIS).
    persist_state_interval_s: float = 60.0
    # The events websocket sends systemInfo this often (the Apify platform: every second).
    system_info_interval_s: float = 1.0
    # Webhooks: each call gives up after this long (Apify: 30 s).
    webhook_timeout_s: float = 30.0
    # The waits before each retry of a failed call; a dispatch fails after the last one.
    webhook_retry_delays_s: tuple[float, ...] = APIFY_WEBHOOK_RETRY_DELAYS_S
    # Loopback, private, link-local and other non-public addresses are refused unless this is set.
    webhook_allow_private: bool = False
    # Processes that deliver webhooks, beside the run workers, in every `greenroom worker` pool.
    webhook_worker_processes: int = 2
    # Apify Proxy (worker/proxy/), started by every worker pool. Where it listens (port 0: no proxy,
    # and runs get no APIFY_PROXY_* variables), and the host name actors reach it at
    # (APIFY_PROXY_HOSTNAME; empty: proxy_host, or 127.0.0.1 when that is a wildcard address).
    proxy_host: str = "127.0.0.1"
    proxy_port: int = 8001
    proxy_hostname: str = ""
    # Upstream proxies per group (`groups-A+B` in the username); `auto` and no groups go direct.
    proxy_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Destinations as networks (`10.0.0.0/8`, `192.0.2.7:8080`, `[::1]:5432`): the proxy connects
    # only to allowed ones (empty: any), never to denied ones, nor to Redis and the database.
    proxy_allow: tuple[str, ...] = ()
    proxy_deny: tuple[str, ...] = ()
    # Bounds: connections at once (all, and per run or user password), bytes per run or user
    # password (0: no limit) in one proxy process's life, a connection idle this long is closed.
    proxy_max_connections: int = 1024
    proxy_max_connections_per_run: int = 256
    proxy_max_bytes_per_run: int = 10 * 1024 * MIB
    proxy_idle_timeout_s: float = 120.0
    proxy_connect_timeout_s: float = 30.0
    # GET /metrics: with a token, only `Authorization: Bearer <token>` reads it; without one, only
    # callers on loopback do (a scraper on the same machine, or through `docker compose exec`).
    metrics_token: str = ""
    # The API's access log and the workers' log lines: `text` (one readable line) or `json`.
    log_format: str = "text"

    @property
    def sql_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'greenroom.db').resolve()}"

    @property
    def api_base_url(self) -> str:
        """The API root without /v2, as actors and printed URLs use it."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def actor_api_base_url(self) -> str:
        """The API root without /v2, as actor processes on the workers reach it."""
        return self.internal_base_url.rstrip("/") or self.api_base_url

    @property
    def builds_dir(self) -> Path:
        return (self.data_dir / "builds").resolve()

    @property
    def sandboxes_dir(self) -> Path:
        """Sandboxes' scratch space (a home and /tmp per uid) and build steps' homes per owner."""
        return (self.data_dir / "sandbox").resolve()

    @property
    def queue_name(self) -> str:
        return f"{self.redis_prefix}-runs"

    @property
    def webhook_queue_name(self) -> str:
        return f"{self.redis_prefix}-webhooks"

    @property
    def proxy_actor_hostname(self) -> str:
        """The proxy's host as actors reach it (APIFY_PROXY_HOSTNAME)."""
        if self.proxy_hostname:
            return self.proxy_hostname
        return "127.0.0.1" if self.proxy_host in ("0.0.0.0", "::", "") else self.proxy_host

    def allows_callable(self, target: str) -> bool:
        """Whether a PYTHON_CALLABLE may name `target` (module:function) here."""
        module = target.partition(":")[0]
        return any(module == allowed or module.startswith(allowed + ".") for allowed in self.callable_modules)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read GREENROOM_* variables; the only place Greenroom reads os.environ for settings."""
        env = os.environ if environ is None else environ
        d = cls()

        def get(name: str, default: str) -> str:
            return env.get(f"GREENROOM_{name}", default)

        def count(name: str) -> int:  # the field is the name in lower case
            return _count(name, get(name, str(getattr(d, name.lower()))))

        return cls(
            data_dir=Path(get("DATA_DIR", str(d.data_dir))),
            database_url=get("DATABASE_URL", d.database_url),
            redis_url=get("REDIS_URL", d.redis_url),
            host=get("HOST", d.host),
            port=int(get("PORT", str(d.port))),
            public_base_url=get("PUBLIC_BASE_URL", d.public_base_url),
            internal_base_url=get("INTERNAL_BASE_URL", d.internal_base_url),
            redis_prefix=get("REDIS_PREFIX", d.redis_prefix),
            run_sync_wait_s=float(get("RUN_SYNC_WAIT_S", str(d.run_sync_wait_s))),
            event_stream_keepalive_s=float(get("EVENT_STREAM_KEEPALIVE_S", str(d.event_stream_keepalive_s))),
            schedule_max_late_s=float(get("SCHEDULE_MAX_LATE_S", str(d.schedule_max_late_s))),
            max_schedules_per_user=count("MAX_SCHEDULES_PER_USER"),
            standby_ports=_port_range(get("STANDBY_PORTS", _format_range(d.standby_ports))),
            standby_worker_host=get("STANDBY_WORKER_HOST", d.standby_worker_host),
            standby_host=get("STANDBY_HOST", d.standby_host).strip().strip(".").lower(),
            standby_start_timeout_s=float(get("STANDBY_START_TIMEOUT_S", str(d.standby_start_timeout_s))),
            standby_request_timeout_s=float(
                get("STANDBY_REQUEST_TIMEOUT_S", str(d.standby_request_timeout_s))
            ),
            standby_max_runs=count("STANDBY_MAX_RUNS"),
            wait_for_finish_max_s=float(get("WAIT_FOR_FINISH_MAX_S", str(d.wait_for_finish_max_s))),
            max_body_bytes=int(get("MAX_BODY_BYTES", str(d.max_body_bytes))),
            max_record_bytes=int(get("MAX_RECORD_BYTES", str(d.max_record_bytes))),
            max_json_depth=int(get("MAX_JSON_DEPTH", str(d.max_json_depth))),
            max_json_integer_digits=int(get("MAX_JSON_INTEGER_DIGITS", str(d.max_json_integer_digits))),
            max_push_items=int(get("MAX_PUSH_ITEMS", str(d.max_push_items))),
            max_run_timeout_s=int(get("MAX_RUN_TIMEOUT_S", str(d.max_run_timeout_s))),
            header_timeout_s=float(get("HEADER_TIMEOUT_S", str(d.header_timeout_s))),
            body_timeout_s=float(get("BODY_TIMEOUT_S", str(d.body_timeout_s))),
            records_archive_max_bytes=int(get("RECORDS_ARCHIVE_MAX_BYTES", str(d.records_archive_max_bytes))),
            records_archive_max_records=int(
                get("RECORDS_ARCHIVE_MAX_RECORDS", str(d.records_archive_max_records))
            ),
            default_run_timeout_s=int(get("DEFAULT_RUN_TIMEOUT_S", str(d.default_run_timeout_s))),
            default_memory_mbytes=int(get("DEFAULT_MEMORY_MBYTES", str(d.default_memory_mbytes))),
            min_memory_mbytes=int(get("MIN_MEMORY_MBYTES", str(d.min_memory_mbytes))),
            max_memory_mbytes=int(get("MAX_MEMORY_MBYTES", str(d.max_memory_mbytes))),
            max_concurrent_runs=int(get("MAX_CONCURRENT_RUNS", str(d.max_concurrent_runs))),
            max_running_memory_mbytes=int(get("MAX_RUNNING_MEMORY_MBYTES", str(d.max_running_memory_mbytes))),
            max_run_memory_mbytes=int(get("MAX_RUN_MEMORY_MBYTES", str(d.max_run_memory_mbytes))),
            max_ready_runs=int(get("MAX_READY_RUNS", str(d.max_ready_runs))),
            rate_limit_per_s=count("RATE_LIMIT_PER_S"),
            rate_limit_resource_per_s=count("RATE_LIMIT_RESOURCE_PER_S"),
            rate_limit_record_per_s=count("RATE_LIMIT_RECORD_PER_S"),
            rate_limit_heavy_per_s=count("RATE_LIMIT_HEAVY_PER_S"),
            max_in_flight_per_caller=count("MAX_IN_FLIGHT_PER_CALLER"),
            max_queued_per_caller=count("MAX_QUEUED_PER_CALLER"),
            admin_usernames=_paths(get("ADMIN_USERNAMES", ",".join(d.admin_usernames))),
            memory_limit=_choice("MEMORY_LIMIT", get("MEMORY_LIMIT", d.memory_limit), MEMORY_LIMIT_MODES),
            sandbox=_choice("SANDBOX", get("SANDBOX", d.sandbox), SANDBOX_MODES),
            sandbox_uids=_uid_range(get("SANDBOX_UIDS", _format_range(d.sandbox_uids))),
            sandbox_lock_dir=Path(get("SANDBOX_LOCK_DIR", str(d.sandbox_lock_dir))),
            sandbox_read_only_paths=_paths(
                get("SANDBOX_READ_ONLY_PATHS", ",".join(d.sandbox_read_only_paths))
            ),
            callable_modules=_paths(get("CALLABLE_MODULES", "")),
            callable_process_runs=int(get("CALLABLE_PROCESS_RUNS", str(d.callable_process_runs))),
            secrets_key=_secrets_key(get("SECRETS_KEY", d.secrets_key)),
            run_pids_max=int(get("RUN_PIDS_MAX", str(d.run_pids_max))),
            run_cpu_shares=int(get("RUN_CPU_SHARES", str(d.run_cpu_shares))),
            run_cpu_cores=float(get("RUN_CPU_CORES", str(d.run_cpu_cores))),
            log_max_chars=int(get("LOG_MAX_CHARS", str(d.log_max_chars))),
            worker_processes=int(get("WORKER_PROCESSES", str(d.worker_processes))),
            kill_grace_s=float(get("KILL_GRACE_S", str(d.kill_grace_s))),
            worker_stop_grace_s=float(get("WORKER_STOP_GRACE_S", str(d.worker_stop_grace_s))),
            abort_grace_s=float(get("ABORT_GRACE_S", str(d.abort_grace_s))),
            run_lease_s=float(get("RUN_LEASE_S", str(d.run_lease_s))),
            sweep_interval_s=float(get("SWEEP_INTERVAL_S", str(d.sweep_interval_s))),
            sweep_lock_s=float(get("SWEEP_LOCK_S", str(d.sweep_lock_s))),
            orphan_after_s=float(get("ORPHAN_AFTER_S", str(d.orphan_after_s))),
            retention_days=float(get("RETENTION_DAYS", str(d.retention_days))),
            build_timeout_s=float(get("BUILD_TIMEOUT_S", str(d.build_timeout_s))),
            persist_state_interval_s=float(get("PERSIST_STATE_INTERVAL_S", str(d.persist_state_interval_s))),
            system_info_interval_s=float(get("SYSTEM_INFO_INTERVAL_S", str(d.system_info_interval_s))),
            webhook_timeout_s=float(get("WEBHOOK_TIMEOUT_S", str(d.webhook_timeout_s))),
            webhook_retry_delays_s=_delays(
                get("WEBHOOK_RETRY_DELAYS_S", ",".join(str(x) for x in d.webhook_retry_delays_s))
            ),
            webhook_allow_private=_flag(get("WEBHOOK_ALLOW_PRIVATE", str(int(d.webhook_allow_private)))),
            webhook_worker_processes=int(get("WEBHOOK_WORKER_PROCESSES", str(d.webhook_worker_processes))),
            proxy_host=get("PROXY_HOST", d.proxy_host),
            proxy_port=int(get("PROXY_PORT", str(d.proxy_port))),
            proxy_hostname=get("PROXY_HOSTNAME", d.proxy_hostname),
            proxy_groups=_proxy_groups(get("PROXY_GROUPS", "")),
            proxy_allow=_paths(get("PROXY_ALLOW", "")),
            proxy_deny=_paths(get("PROXY_DENY", "")),
            proxy_max_connections=int(get("PROXY_MAX_CONNECTIONS", str(d.proxy_max_connections))),
            proxy_max_connections_per_run=int(
                get("PROXY_MAX_CONNECTIONS_PER_RUN", str(d.proxy_max_connections_per_run))
            ),
            proxy_max_bytes_per_run=int(get("PROXY_MAX_BYTES_PER_RUN", str(d.proxy_max_bytes_per_run))),
            proxy_idle_timeout_s=float(get("PROXY_IDLE_TIMEOUT_S", str(d.proxy_idle_timeout_s))),
            proxy_connect_timeout_s=float(get("PROXY_CONNECT_TIMEOUT_S", str(d.proxy_connect_timeout_s))),
            metrics_token=get("METRICS_TOKEN", d.metrics_token),
            log_format=_choice("LOG_FORMAT", get("LOG_FORMAT", d.log_format), LOG_FORMATS),
        )

    def to_env(self) -> dict[str, str]:
        """The GREENROOM_* variables that rebuild these settings in a child process."""
        return {
            "GREENROOM_DATA_DIR": str(self.data_dir),
            "GREENROOM_DATABASE_URL": self.database_url,
            "GREENROOM_REDIS_URL": self.redis_url,
            "GREENROOM_HOST": self.host,
            "GREENROOM_PORT": str(self.port),
            "GREENROOM_PUBLIC_BASE_URL": self.public_base_url,
            "GREENROOM_INTERNAL_BASE_URL": self.internal_base_url,
            "GREENROOM_REDIS_PREFIX": self.redis_prefix,
            "GREENROOM_RUN_SYNC_WAIT_S": str(self.run_sync_wait_s),
            "GREENROOM_EVENT_STREAM_KEEPALIVE_S": str(self.event_stream_keepalive_s),
            "GREENROOM_SCHEDULE_MAX_LATE_S": str(self.schedule_max_late_s),
            "GREENROOM_MAX_SCHEDULES_PER_USER": str(self.max_schedules_per_user),
            "GREENROOM_STANDBY_PORTS": _format_range(self.standby_ports),
            "GREENROOM_STANDBY_WORKER_HOST": self.standby_worker_host,
            "GREENROOM_STANDBY_HOST": self.standby_host,
            "GREENROOM_STANDBY_START_TIMEOUT_S": str(self.standby_start_timeout_s),
            "GREENROOM_STANDBY_REQUEST_TIMEOUT_S": str(self.standby_request_timeout_s),
            "GREENROOM_STANDBY_MAX_RUNS": str(self.standby_max_runs),
            "GREENROOM_WAIT_FOR_FINISH_MAX_S": str(self.wait_for_finish_max_s),
            "GREENROOM_MAX_BODY_BYTES": str(self.max_body_bytes),
            "GREENROOM_MAX_RECORD_BYTES": str(self.max_record_bytes),
            "GREENROOM_MAX_JSON_DEPTH": str(self.max_json_depth),
            "GREENROOM_MAX_JSON_INTEGER_DIGITS": str(self.max_json_integer_digits),
            "GREENROOM_MAX_PUSH_ITEMS": str(self.max_push_items),
            "GREENROOM_MAX_RUN_TIMEOUT_S": str(self.max_run_timeout_s),
            "GREENROOM_HEADER_TIMEOUT_S": str(self.header_timeout_s),
            "GREENROOM_BODY_TIMEOUT_S": str(self.body_timeout_s),
            "GREENROOM_RECORDS_ARCHIVE_MAX_BYTES": str(self.records_archive_max_bytes),
            "GREENROOM_RECORDS_ARCHIVE_MAX_RECORDS": str(self.records_archive_max_records),
            "GREENROOM_DEFAULT_RUN_TIMEOUT_S": str(self.default_run_timeout_s),
            "GREENROOM_DEFAULT_MEMORY_MBYTES": str(self.default_memory_mbytes),
            "GREENROOM_MIN_MEMORY_MBYTES": str(self.min_memory_mbytes),
            "GREENROOM_MAX_MEMORY_MBYTES": str(self.max_memory_mbytes),
            "GREENROOM_MAX_CONCURRENT_RUNS": str(self.max_concurrent_runs),
            "GREENROOM_MAX_RUNNING_MEMORY_MBYTES": str(self.max_running_memory_mbytes),
            "GREENROOM_MAX_RUN_MEMORY_MBYTES": str(self.max_run_memory_mbytes),
            "GREENROOM_MAX_READY_RUNS": str(self.max_ready_runs),
            "GREENROOM_RATE_LIMIT_PER_S": str(self.rate_limit_per_s),
            "GREENROOM_RATE_LIMIT_RESOURCE_PER_S": str(self.rate_limit_resource_per_s),
            "GREENROOM_RATE_LIMIT_RECORD_PER_S": str(self.rate_limit_record_per_s),
            "GREENROOM_RATE_LIMIT_HEAVY_PER_S": str(self.rate_limit_heavy_per_s),
            "GREENROOM_MAX_IN_FLIGHT_PER_CALLER": str(self.max_in_flight_per_caller),
            "GREENROOM_MAX_QUEUED_PER_CALLER": str(self.max_queued_per_caller),
            "GREENROOM_ADMIN_USERNAMES": ",".join(self.admin_usernames),
            "GREENROOM_MEMORY_LIMIT": self.memory_limit,
            "GREENROOM_SANDBOX": self.sandbox,
            "GREENROOM_SANDBOX_UIDS": _format_range(self.sandbox_uids),
            "GREENROOM_SANDBOX_LOCK_DIR": str(self.sandbox_lock_dir),
            "GREENROOM_SANDBOX_READ_ONLY_PATHS": ",".join(self.sandbox_read_only_paths),
            "GREENROOM_CALLABLE_MODULES": ",".join(self.callable_modules),
            "GREENROOM_CALLABLE_PROCESS_RUNS": str(self.callable_process_runs),
            "GREENROOM_SECRETS_KEY": self.secrets_key,
            "GREENROOM_RUN_PIDS_MAX": str(self.run_pids_max),
            "GREENROOM_RUN_CPU_SHARES": str(self.run_cpu_shares),
            "GREENROOM_RUN_CPU_CORES": str(self.run_cpu_cores),
            "GREENROOM_LOG_MAX_CHARS": str(self.log_max_chars),
            "GREENROOM_WORKER_PROCESSES": str(self.worker_processes),
            "GREENROOM_KILL_GRACE_S": str(self.kill_grace_s),
            "GREENROOM_WORKER_STOP_GRACE_S": str(self.worker_stop_grace_s),
            "GREENROOM_ABORT_GRACE_S": str(self.abort_grace_s),
            "GREENROOM_RUN_LEASE_S": str(self.run_lease_s),
            "GREENROOM_SWEEP_INTERVAL_S": str(self.sweep_interval_s),
            "GREENROOM_SWEEP_LOCK_S": str(self.sweep_lock_s),
            "GREENROOM_ORPHAN_AFTER_S": str(self.orphan_after_s),
            "GREENROOM_RETENTION_DAYS": str(self.retention_days),
            "GREENROOM_BUILD_TIMEOUT_S": str(self.build_timeout_s),
            "GREENROOM_PERSIST_STATE_INTERVAL_S": str(self.persist_state_interval_s),
            "GREENROOM_SYSTEM_INFO_INTERVAL_S": str(self.system_info_interval_s),
            "GREENROOM_WEBHOOK_TIMEOUT_S": str(self.webhook_timeout_s),
            "GREENROOM_WEBHOOK_RETRY_DELAYS_S": ",".join(str(x) for x in self.webhook_retry_delays_s),
            "GREENROOM_WEBHOOK_ALLOW_PRIVATE": "1" if self.webhook_allow_private else "0",
            "GREENROOM_WEBHOOK_WORKER_PROCESSES": str(self.webhook_worker_processes),
            "GREENROOM_PROXY_HOST": self.proxy_host,
            "GREENROOM_PROXY_PORT": str(self.proxy_port),
            "GREENROOM_PROXY_HOSTNAME": self.proxy_hostname,
            "GREENROOM_PROXY_GROUPS": json.dumps({name: list(urls) for name, urls in self.proxy_groups}),
            "GREENROOM_PROXY_ALLOW": ",".join(self.proxy_allow),
            "GREENROOM_PROXY_DENY": ",".join(self.proxy_deny),
            "GREENROOM_PROXY_MAX_CONNECTIONS": str(self.proxy_max_connections),
            "GREENROOM_PROXY_MAX_CONNECTIONS_PER_RUN": str(self.proxy_max_connections_per_run),
            "GREENROOM_PROXY_MAX_BYTES_PER_RUN": str(self.proxy_max_bytes_per_run),
            "GREENROOM_PROXY_IDLE_TIMEOUT_S": str(self.proxy_idle_timeout_s),
            "GREENROOM_PROXY_CONNECT_TIMEOUT_S": str(self.proxy_connect_timeout_s),
            "GREENROOM_METRICS_TOKEN": self.metrics_token,
            "GREENROOM_LOG_FORMAT": self.log_format,
        }
