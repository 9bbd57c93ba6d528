"""SQLAlchemy tables: the whole state of Greenroom. Every change here needs an Alembic migration."""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from server.storage.ids import new_id, utcnow

Id = String(17)
Json = JSON(none_as_null=True)


def new_signing_key() -> str:
    return secrets.token_hex(16)


def new_proxy_password() -> str:
    """A user's Apify Proxy password: letters and digits, so it goes into a proxy URL unescaped."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))


class Base(DeclarativeBase):
    pass


def _id() -> Mapped[str]:
    return mapped_column(Id, primary_key=True, default=new_id)


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = _id()
    username: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    created_at: Mapped[datetime] = _created()
    # Apify Proxy's password for the user (users/me `proxy.password`; worker/proxy/passwords.py).
    proxy_password: Mapped[str | None] = mapped_column(
        String(32), unique=True, index=True, default=new_proxy_password
    )


class UserLimits(Base):
    """One user's overrides of the per-user limits in Settings (None: the setting's value).
    Set with `greenroom users limits` or PUT /v2/users/me/limits (server/services/limits.py)."""

    __tablename__ = "user_limits"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    max_concurrent_runs: Mapped[int | None] = mapped_column(Integer)
    max_running_memory_mbytes: Mapped[int | None] = mapped_column(Integer)
    max_run_memory_mbytes: Mapped[int | None] = mapped_column(Integer)
    max_ready_runs: Mapped[int | None] = mapped_column(Integer)
    modified_at: Mapped[datetime] = _created()


TOKEN_DESCRIPTION_CHARS = 200


class ApiToken(Base):
    """A user's API token, stored hashed. run_id set: a token handed to one run, dropped when it ends."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    run_id: Mapped[str | None] = mapped_column(Id, index=True)
    created_at: Mapped[datetime] = _created()
    # `greenroom tokens create --expires DAYS`: refused from then on (None: never expires).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What the token is for, as its creator said (None for run tokens and tokens made before 0011).
    description: Mapped[str | None] = mapped_column(String(TOKEN_DESCRIPTION_CHARS))
    # The last request made with it, to within a minute (server/services/token_use.py).
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Actor(Base):
    __tablename__ = "actors"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    title: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # Apify's defaultRunOptions: build, timeoutSecs, memoryMbytes, restartOnError, maxItems.
    default_run_options: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    # Apify's versions array, as sent (secret env var values included; the API never returns them).
    versions: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False, default=list)
    # {"latest": {"buildId", "buildNumber", "finishedAt"}}: set when a build succeeds.
    tagged_builds: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    # {"latest": {"buildId", "buildNumber"}}: the newest build of a tag still in progress. A run of
    # the tag uses it (and builds it itself if it must), so a changed version runs at once.
    pending_builds: Mapped[dict[str, Any]] = mapped_column(
        Json, nullable=False, default=dict, server_default="{}"
    )
    # Apify's pricingInfos: the entry in force when a run starts becomes the run's pricingInfo.
    pricing_infos: Mapped[list[dict[str, Any]]] = mapped_column(
        Json, nullable=False, default=list, server_default="[]"
    )
    # Apify's actorStandby, as set (None: never set; then the build's usesStandbyMode decides).
    actor_standby: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime] = _created()
    modified_at: Mapped[datetime] = _created()


class Build(Base):
    """An immutable snapshot of an actor version, built by a worker: what a run executes."""

    __tablename__ = "builds"
    __table_args__ = (Index("ix_builds_user_started", "user_id", "started_at"),)
    id: Mapped[str] = _id()
    act_id: Mapped[str] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    version_number: Mapped[str] = mapped_column(String(8), nullable=False)
    build_number: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    source: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    # The tag the build takes when it succeeds (the version's buildTag, or the `tag` parameter).
    tag: Mapped[str | None] = mapped_column(String(64))
    # Apify's build options: useCache, betaPackages, memoryMbytes, diskMbytes.
    options: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict, server_default="{}")
    stats: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict, server_default="{}")
    origin: Mapped[str] = mapped_column(String(16), nullable=False, default="API", server_default="API")
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Renewed by the worker building it (worker/lease.py); the sweeper fails a build whose lease lapsed.
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    act_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    title: Mapped[str | None] = mapped_column(String(255))
    options: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    input: Mapped[Any] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime] = _created()
    modified_at: Mapped[datetime] = _created()


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        # Each run list in its own order (startedAt, then id), so that a page reads its rows in order
        # (migration 0013, bench/lists.py).
        Index("ix_runs_user_started_id", "user_id", "started_at", "id"),
        Index("ix_runs_user_act_started", "user_id", "act_id", "started_at", "id"),
        Index("ix_runs_user_task_started", "user_id", "actor_task_id", "started_at", "id"),
        # Also a user's active and READY runs, counted at every start and run end
        # (server/storage/limits.py), without reading the user's finished ones.
        Index("ix_runs_user_status_started", "user_id", "status", "started_at", "id"),
    )
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    act_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), nullable=False)
    actor_task_id: Mapped[str | None] = mapped_column(Id, index=True)
    build_id: Mapped[str] = mapped_column(Id, nullable=False)
    build_number: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    status_message: Mapped[str | None] = mapped_column(Text)
    is_status_message_terminal: Mapped[bool | None] = mapped_column(Boolean)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    # Set with ABORTING: True = SIGTERM and a grace period, False = killed at once.
    abort_gracefully: Mapped[bool | None] = mapped_column(Boolean)
    origin: Mapped[str] = mapped_column(String(16), nullable=False, default="API")
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    # Runs a schedule started (origin SCHEDULER): the schedule and the due time it fired for.
    schedule_id: Mapped[str | None] = mapped_column(Id)
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A standby run (origin STANDBY) once it answered its readiness probe: where its web server is.
    standby_url: Mapped[str | None] = mapped_column(String(255))
    # Apify's run options: build, timeoutSecs, memoryMbytes, diskMbytes, maxItems, maxTotalChargeUsd,
    # restartOnError.
    options: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    stats: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    default_key_value_store_id: Mapped[str] = mapped_column(Id, nullable=False)
    default_dataset_id: Mapped[str] = mapped_column(Id, nullable=False)
    default_request_queue_id: Mapped[str] = mapped_column(Id, nullable=False)
    started_at: Mapped[datetime] = _created()
    # Indexed for data retention (server/storage/retention.py): the oldest finished runs first.
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # Renewed by the worker running it (worker/lease.py); the sweeper ends a run whose lease lapsed.
    # lease_owner names the attempt, so a stalled worker cannot touch a run restarted elsewhere.
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    # Pay-per-event: the actor's pricing when the run started, and what was charged (event -> count).
    pricing_info: Mapped[dict[str, Any] | None] = mapped_column(Json)
    charged_event_counts: Mapped[dict[str, int]] = mapped_column(
        Json, nullable=False, default=dict, server_default="{}"
    )
    # Apify's metamorphs [{createdAt, actorId, buildId, inputKey}]; input_key None reads INPUT.
    metamorphs: Mapped[list[dict[str, Any]]] = mapped_column(
        Json, nullable=False, default=list, server_default="[]"
    )
    input_key: Mapped[str | None] = mapped_column(String(256))
    # Reboots asked for; the worker running the run restarts the actor when it grows.
    reboot_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # The RQ queue (GREENROOM_REDIS_PREFIX) whose workers take the run: a worker woken by any job
    # claims the fairest READY run of its own queue (worker/fair.py). None: made before 0012.
    queue_name: Mapped[str | None] = mapped_column(String(64))


class RunStartKey(Base):
    """An Idempotency-Key a run start or run-sync came with: a repeat of the key by the same user
    within a day attaches to this run instead of starting another (server/services/runs.py)."""

    __tablename__ = "run_start_keys"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    # The key goes with its run (deleted, or removed by data retention).
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at: Mapped[datetime] = _created()


class RunCharge(Base):
    """One charge of a pay-per-event run; a repeated idempotency key is the same charge."""

    __tablename__ = "run_charges"
    __table_args__ = (
        UniqueConstraint("run_id", "idempotency_key", name="uq_run_charges_run_id_idempotency_key"),
    )
    id: Mapped[str] = _id()
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)
    event_name: Mapped[str] = mapped_column(String(256), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = _created()


class _Storage:
    """What every storage row has (key-value stores, datasets, request queues): its owner, a name
    unique per owner (none for a run's default storages), the run that made it, Apify's three times.
    Each table declares the (user_id, name) constraint itself: a constraint belongs to one table."""

    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str | None] = mapped_column(String(63))
    act_id: Mapped[str | None] = mapped_column(Id)
    # Indexed: a run's unnamed storages are deleted with it (data retention, deleting an actor).
    act_run_id: Mapped[str | None] = mapped_column(Id, index=True)
    created_at: Mapped[datetime] = _created()
    modified_at: Mapped[datetime] = _created()
    accessed_at: Mapped[datetime] = _created()


class KeyValueStore(_Storage, Base):
    __tablename__ = "key_value_stores"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    # Apify's urlSigningSecretKey: signs the store's public URLs (HMAC), shown to its owner only.
    url_signing_secret_key: Mapped[str | None] = mapped_column(String(64), default=new_signing_key)


class KeyValueRecord(Base):
    __tablename__ = "key_value_records"
    store_id: Mapped[str] = mapped_column(
        ForeignKey("key_value_stores.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    content_encoding: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    modified_at: Mapped[datetime] = _created()


class Dataset(_Storage, Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    item_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    url_signing_secret_key: Mapped[str | None] = mapped_column(String(64), default=new_signing_key)


class DatasetItem(Base):
    __tablename__ = "dataset_items"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    data: Mapped[str] = mapped_column(Text, nullable=False)


class RequestQueue(_Storage, Base):
    """A queue of requests to crawl. Counts are kept on the row, written in the transaction that
    changes the requests: every write first updates this row, which serialises writers per queue."""

    __tablename__ = "request_queues"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    total_request_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    handled_request_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Numbers each placement of a request: +n at the end of the queue, -n at its forefront.
    order_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # The first clientKey that touched the queue ("" for a call without one), and whether any other has.
    client_key: Mapped[str | None] = mapped_column(String(32))
    had_multiple_clients: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class QueueRequest(Base):
    """One request of a queue. Its id is derived from its uniqueKey (as Apify's clients derive it),
    so the primary key is also the uniqueKey's uniqueness."""

    __tablename__ = "queue_requests"
    __table_args__ = (Index("ix_queue_requests_head", "queue_id", "order_no"),)
    queue_id: Mapped[str] = mapped_column(
        ForeignKey("request_queues.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    unique_key: Mapped[str] = mapped_column(Text, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    # The request's JSON as sent (userData, payload, headers, retryCount, ...), without id and handledAt.
    data: Mapped[str] = mapped_column(Text, nullable=False)
    # Head order, ascending; NULL once handled (a handled request is never in the head).
    order_no: Mapped[int | None] = mapped_column(BigInteger)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lock_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lock_client_key: Mapped[str | None] = mapped_column(String(32))


class LogChunk(Base):
    """The run log, appended in chunks by the worker while the run goes."""

    __tablename__ = "log_chunks"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)


class BuildLogChunk(Base):
    """The build log (pip and npm output), appended in chunks by the worker while the build goes."""

    __tablename__ = "build_log_chunks"
    build_id: Mapped[str] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)


class Webhook(Base):
    """A webhook: persistent (POST /v2/webhooks) or ad hoc (a run's `webhooks` parameter, isAdHoc).

    The condition columns are ANDed: each one set must match the run (or build) for it to fire.
    """

    __tablename__ = "webhooks"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_webhooks_user_created", "user_id", "created_at"),
        # Matching a run's event: the user's webhooks with no run condition, or this run's.
        Index("ix_webhooks_user_run", "user_id", "condition_run_id"),
    )
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    is_ad_hoc: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    event_types: Mapped[list[str]] = mapped_column(Json, nullable=False)
    condition_actor_id: Mapped[str | None] = mapped_column(Id, index=True)
    condition_task_id: Mapped[str | None] = mapped_column(Id, index=True)
    condition_run_id: Mapped[str | None] = mapped_column(Id)
    request_url: Mapped[str] = mapped_column(Text, nullable=False)
    payload_template: Mapped[str | None] = mapped_column(Text)
    headers_template: Mapped[str | None] = mapped_column(Text)
    should_interpolate_strings: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    ignore_ssl_errors: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    do_not_retry: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(256))
    # Greenroom's own: signs each delivery (HMAC-SHA256); never returned by the API.
    signing_secret: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = _created()
    modified_at: Mapped[datetime] = _created()


class Schedule(Base):
    """A schedule (Apify's /v2/schedules): when its cron expression is due in its timezone, its
    actions start runs (server/schedules/). next_run_at is the next due time while it is enabled
    (None while disabled); last_run_ids are the runs its last firing started (isExclusive)."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    cron_expression: Mapped[str] = mapped_column(String(256), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    is_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    is_exclusive: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # [{id, type: RUN_ACTOR, actorId, runInput, runOptions} or {id, type: RUN_ACTOR_TASK, actorTaskId, input}]
    actions: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False)
    notifications: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    # Read by every sweep: the enabled schedules due now.
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_ids: Mapped[list[str]] = mapped_column(Json, nullable=False)
    created_at: Mapped[datetime] = _created()
    modified_at: Mapped[datetime] = _created()


class ScheduleInvocation(Base):
    """A schedule's due time, handled: its runs started, or why not (the schedule's log). Written in
    the transaction that starts its runs: the primary key makes a due time fire once, whoever tries."""

    __tablename__ = "schedule_invocations"
    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    run_ids: Mapped[list[str]] = mapped_column(Json, nullable=False)
    created_at: Mapped[datetime] = _created()


class WebhookDispatch(Base):
    """One event sent (or to be sent) by one webhook, with every call made so far.

    Written in the same transaction as the status change that fired it. ACTIVE until a call
    succeeds (SUCCEEDED) or the retries run out (FAILED). A worker delivering it holds a lease
    (lease_owner, lease_expires_at); `claims` counts the leases taken, and names the RQ job of the
    next one, so the sweeper can tell a dispatch whose job is waiting from one whose job was lost.
    """

    __tablename__ = "webhook_dispatches"
    __table_args__ = (
        Index("ix_webhook_dispatches_user_created", "user_id", "created_at"),
        Index("ix_webhook_dispatches_webhook_created", "webhook_id", "created_at"),
        Index("ix_webhook_dispatches_due", "status", "next_attempt_at"),
    )
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False)
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    # The event as it was when it fired: eventData, and the resource (the run or build object).
    event_data: Mapped[dict[str, Any] | None] = mapped_column(Json)
    resource: Mapped[dict[str, Any] | None] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    # Apify's calls: [{startedAt, finishedAt, errorMessage, responseStatus, responseBody}].
    calls: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False, default=list)
    claims: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
