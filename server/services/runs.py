"""Starting runs: one transaction writes the run, its storages and INPUT; the job is enqueued after commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy.orm import Session

from server.queue import enqueue_run
from server.run_options import RunOverrides
from server.services.build_versions import BuildRef, resolve_build
from server.services.input_schemas import checked_body
from server.services.limits import check_start_allowed
from server.services.pricing import (
    ACTOR_START_EVENT,
    check_max_total_charge,
    pricing_in_force,
    start_event_count,
)
from server.services.run_keys import Keyed, KeyTaken
from server.services.webhooks import add_ad_hoc_webhooks, enqueue_dispatches
from server.settings import Settings
from server.statuses import RunStatus
from server.storage.charges import INSERT_CHARGE, charge_row
from server.storage.ids import new_id, utcnow
from server.storage.key_value_stores import upsert_record
from server.storage.models import Base, Dataset, KeyValueStore, RequestQueue, Run, User
from server.storage.prepared import PreparedInsert
from server.storage.rows import ActorView, TaskView
from server.webhooks.events import RUN_CREATED, fire_run

if TYPE_CHECKING:  # the lifespan imports the sweeper, which starts runs with this module
    from server.lifespan import AppState


@dataclass(frozen=True)
class RunInput:
    """The INPUT record: bytes and content type, stored verbatim."""

    body: bytes
    content_type: str


@dataclass(frozen=True)
class RunMeta:
    origin: str = "API"
    client_ip: str | None = None
    user_agent: str | None = None
    # A schedule's run: the schedule, and the due time it fired for.
    schedule_id: str | None = None
    scheduled_at: datetime | None = None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def effective_options(overrides: RunOverrides, task: TaskView | None, actor: ActorView) -> dict[str, Any]:
    """Request first, then the task's options, then the actor's defaultRunOptions."""
    task_opts = task.options if task is not None else {}
    actor_opts = actor.default_run_options
    memory = _first(overrides.memory_mbytes, task_opts.get("memoryMbytes"), actor_opts.get("memoryMbytes"))
    options: dict[str, Any] = {
        "build": _first(overrides.build, task_opts.get("build"), actor_opts.get("build"), "latest"),
        "timeoutSecs": _first(
            overrides.timeout_s, task_opts.get("timeoutSecs"), actor_opts.get("timeoutSecs")
        ),
        "memoryMbytes": memory,
        "diskMbytes": 2 * memory,
    }
    for key, value in (
        ("maxItems", _first(overrides.max_items, task_opts.get("maxItems"), actor_opts.get("maxItems"))),
        (
            "maxTotalChargeUsd",
            _first(
                overrides.max_total_charge_usd,
                task_opts.get("maxTotalChargeUsd"),
                actor_opts.get("maxTotalChargeUsd"),
            ),
        ),
        (
            "restartOnError",
            _first(
                overrides.restart_on_error, task_opts.get("restartOnError"), actor_opts.get("restartOnError")
            ),
        ),
    ):
        if value is not None:
            options[key] = value
    return options


def _schema_checked(session: Session, build: BuildRef, run_input: RunInput | None) -> RunInput | None:
    checked = checked_body(
        session, build, run_input.body if run_input else None, run_input.content_type if run_input else ""
    )
    return RunInput(*checked) if checked is not None else None


def _row(model: type[Any], **values: Any) -> dict[str, Any]:
    """Column values for a Core insert (a fraction of the cost of an ORM flush on this hot path).
    A column not given takes the model's Python default, as an ORM insert would (else NULL)."""
    row = {}
    for column in model.__table__.columns:
        default = column.default
        if column.key in values or default is None:
            row[column.key] = values.get(column.key)
        else:
            row[column.key] = default.arg if default.is_scalar else default.arg(None)
    return row


@dataclass(frozen=True)
class RunStart:
    """One run to write: who starts what, with what (see write_run)."""

    user_id: str
    actor: ActorView
    task: TaskView | None
    overrides: RunOverrides
    run_input: RunInput | None
    meta: RunMeta
    run_id: str
    idempotency_key: str | None = None


class Started(NamedTuple):
    run: Run
    # Jobs that waited in the run's queue ahead of its own (0 when it was not enqueued: a repeat of
    # an idempotent start, Redis away). Any: no worker is idle, the run will wait its turn.
    ahead: int


async def start_run(
    state: AppState,
    user: User,
    actor: ActorView,
    task: TaskView | None,
    overrides: RunOverrides,
    run_input: RunInput | None,
    meta: RunMeta,
    *,
    run_id: str | None = None,
    idempotency_key: str | None = None,
    announce: bool = True,
) -> Started:
    """Write the run, its storages and INPUT in one transaction (write_run), commit, then enqueue
    the job. A repeat of an idempotent start: that run, as it is now (its id is not run_id).
    `announce=False`: the caller will not wait for a worker to take the run (run-sync, waitForFinish),
    so that worker publishes no run-started for it.

    The transaction is a sync session's on the quick path (Database.quick_write): on an async
    session its dozen statements each waited for a turn of a busy event loop, and on SQLite the
    database's write lock was held across those turns while the workers' claims and ends waited.
    """
    start = RunStart(user.id, actor, task, overrides, run_input, meta, run_id or new_id(), idempotency_key)
    try:
        run, dispatches = await state.db.quick_write(
            lambda session: write_run(session, state.settings, state.db.dialect, start)
        )
    except KeyTaken as taken:  # rolled back: another start with the key committed first
        run, dispatches = await state.db.quick_read(taken.keyed.taken_run), None
    if dispatches is None:
        return Started(run, 0)
    # Committed: only now may a worker see the job (and a webhook worker the dispatches).
    waiting = await enqueue_run(state.queue, run.id, state.enqueuing, announce=announce)
    await enqueue_dispatches(state, dispatches)
    return Started(run, max(0, waiting - 1))


def write_run(
    session: Session, settings: Settings, dialect: str, start: RunStart
) -> tuple[Run, list[str] | None]:
    """In the caller's transaction: the run, its storages, INPUT, ad-hoc webhooks and RUN_CREATED
    dispatches; (the run, the dispatch ids to enqueue after the commit, as the run's job).

    With an idempotency key that the user's start of the same actor or task used within
    IDEMPOTENCY_WINDOW: (that run, as it is now, None), and nothing is written. The key is written
    with the run; of two starts with one key at once, the second to write it raises KeyTaken (its
    transaction is to be rolled back; the first's run is then read). 409 if the key started another
    actor's or task's run. 402, 404 or 400 before anything is written when the run may not start.
    """
    actor, task, run_id, user_id = start.actor, start.task, start.run_id, start.user_id
    now = utcnow()
    keyed = Keyed(user_id, actor.id, task.id if task is not None else None, start.idempotency_key, now)
    if (repeated := keyed.run(session)) is not None:
        return repeated, None  # a repeat: not a new run
    options = effective_options(start.overrides, task, actor)
    # The pricing in force now is the run's for good; the platform charges its start event itself.
    pricing_info = pricing_in_force(actor.pricing_infos or [], now)
    check_max_total_charge(pricing_info, options.get("maxTotalChargeUsd"))
    starts = start_event_count(pricing_info, options["memoryMbytes"])
    # 402 before anything is written: a run that could never start, or a backlog that is full.
    check_start_allowed(session, settings, user_id, int(options["memoryMbytes"]))
    build = resolve_build(session, actor, options["build"])
    # The build's input schema: defaults filled in, the input validated (400) before any write.
    checked = _schema_checked(session, build, start.run_input)
    store_id, dataset_id, queue_id = new_id(), new_id(), new_id()
    run = Run(
        id=run_id,
        user_id=user_id,
        act_id=actor.id,
        actor_task_id=task.id if task is not None else None,
        build_id=build.id,
        build_number=build.number,
        status=RunStatus.READY.value,
        origin=start.meta.origin,
        client_ip=start.meta.client_ip,
        user_agent=start.meta.user_agent,
        schedule_id=start.meta.schedule_id,
        scheduled_at=start.meta.scheduled_at,
        options=options,
        stats={"inputBodyLen": len(checked.body) if checked else 0},
        default_key_value_store_id=store_id,
        default_dataset_id=dataset_id,
        default_request_queue_id=queue_id,
        started_at=now,
        pricing_info=pricing_info,
        charged_event_counts={ACTOR_START_EVENT: starts} if starts else {},
        queue_name=settings.queue_name,
    )
    owner = {"user_id": user_id, "act_id": actor.id, "act_run_id": run_id}
    stamps = {"created_at": now, "modified_at": now, "accessed_at": now}
    _INSERT_STORE.execute(session, _row(KeyValueStore, id=store_id, **owner, **stamps))
    _INSERT_DATASET.execute(session, _row(Dataset, id=dataset_id, item_count=0, **owner, **stamps))
    _INSERT_QUEUE.execute(session, _row(RequestQueue, id=queue_id, **_EMPTY_QUEUE, **owner, **stamps))
    given = {c: v for c in _RUN_COLUMNS if (v := getattr(run, c)) is not None}
    _INSERT_RUN.execute(session, _row(Run, **given))
    if starts:
        session.execute(INSERT_CHARGE, charge_row(run_id, ACTOR_START_EVENT, starts, now))
    if checked is not None:
        upsert_record(session, dialect, store_id, "INPUT", checked.body, checked.content_type, None)
    if start.overrides.webhooks:
        add_ad_hoc_webhooks(session, dialect, user_id, run_id, start.overrides.webhooks)
    keyed.write(session, dialect, run_id)
    return run, fire_run(session, RUN_CREATED, run_id, run)


_RUN_COLUMNS = tuple(column.key for column in Run.__table__.columns)
# Built once: on the hot path, building a statement per request costs more than executing it.
_INSERT_STORE = PreparedInsert(Base.metadata.tables["key_value_stores"])
_INSERT_DATASET = PreparedInsert(Base.metadata.tables["datasets"])
_INSERT_RUN = PreparedInsert(Base.metadata.tables["runs"])
_INSERT_QUEUE = PreparedInsert(Base.metadata.tables["request_queues"])
_EMPTY_QUEUE = {
    "total_request_count": 0,
    "handled_request_count": 0,
    "order_seq": 0,
    "had_multiple_clients": False,
}
