"""Webhook and dispatch statements, built once, shared by the API (async) and the workers (sync).

A dispatch's life: inserted ACTIVE (due at once) in the transaction of the status change that
fired it; CLAIM_DISPATCH leases it to one worker for one call; RECORD_CALL, by that worker only,
appends the call and ends it (SUCCEEDED, FAILED) or sets when the next call is due. A worker that
dies mid-call leaves a lease that expires; DUE_DISPATCHES then finds the dispatch again.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    exists,
    insert,
    or_,
    select,
    update,
)

from server.storage.models import Build, Run, Webhook, WebhookDispatch

WEBHOOKS = cast(Table, Webhook.__table__)
DISPATCHES = cast(Table, WebhookDispatch.__table__)
RUNS = cast(Table, Run.__table__)
BUILDS = cast(Table, Build.__table__)
ACTIVE, SUCCEEDED, FAILED = "ACTIVE", "SUCCEEDED", "FAILED"

_HOOK_COLUMNS = (WEBHOOKS.c.id, WEBHOOKS.c.user_id, WEBHOOKS.c.event_types)


def _not_yet_fired() -> ColumnElement[bool]:
    """An ad-hoc webhook fires once per event type (Apify: "triggered only the first time")."""
    fired = exists().where(
        DISPATCHES.c.webhook_id == WEBHOOKS.c.id, DISPATCHES.c.event_type == bindparam("event_type")
    )
    return or_(WEBHOOKS.c.is_ad_hoc.is_(False), ~fired)


def _optional(column: ColumnElement[str | None], value: ColumnElement[str | None]) -> ColumnElement[bool]:
    return or_(column.is_(None), column == value)


# Executed with {"run_id", "event_type"}: the webhooks whose condition the run meets (every
# condition set must match). Event types are filtered by the caller (they are a JSON list).
MATCH_RUN: Select[tuple[str, str, list[str]]] = (
    select(*_HOOK_COLUMNS)
    .select_from(
        RUNS.join(
            WEBHOOKS,
            and_(
                WEBHOOKS.c.user_id == RUNS.c.user_id,
                _optional(WEBHOOKS.c.condition_run_id, RUNS.c.id),
                _optional(WEBHOOKS.c.condition_actor_id, RUNS.c.act_id),
                _optional(WEBHOOKS.c.condition_task_id, RUNS.c.actor_task_id),
            ),
        )
    )
    .where(RUNS.c.id == bindparam("run_id"), _not_yet_fired())
    .order_by(WEBHOOKS.c.created_at, WEBHOOKS.c.id)
)
# Executed with {"build_id", "event_type"}: builds match webhooks on their actor alone.
MATCH_BUILD: Select[tuple[str, str, list[str]]] = (
    select(*_HOOK_COLUMNS)
    .select_from(
        BUILDS.join(
            WEBHOOKS,
            and_(
                WEBHOOKS.c.user_id == BUILDS.c.user_id,
                WEBHOOKS.c.condition_actor_id == BUILDS.c.act_id,
                WEBHOOKS.c.condition_task_id.is_(None),
                WEBHOOKS.c.condition_run_id.is_(None),
            ),
        )
    )
    .where(BUILDS.c.id == bindparam("build_id"), _not_yet_fired())
    .order_by(WEBHOOKS.c.created_at, WEBHOOKS.c.id)
)
RUN_ROW = select(RUNS).where(RUNS.c.id == bindparam("run_id"))
BUILD_ROW = select(BUILDS).where(BUILDS.c.id == bindparam("build_id"))
INSERT_DISPATCH: Insert = insert(DISPATCHES)

_NOW = bindparam("now", type_=DISPATCHES.c.next_attempt_at.type)
_LEASE_FREE = or_(DISPATCHES.c.lease_expires_at.is_(None), DISPATCHES.c.lease_expires_at < _NOW)

# Executed with {"dispatch_id", "now", "owner", "until"}: rowcount 1 if this worker may make the call.
CLAIM_DISPATCH: Update = (
    update(DISPATCHES)
    .where(
        DISPATCHES.c.id == bindparam("dispatch_id"),
        DISPATCHES.c.status == ACTIVE,
        DISPATCHES.c.next_attempt_at <= _NOW,
        _LEASE_FREE,
    )
    .values(
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until", type_=DISPATCHES.c.lease_expires_at.type),
        claims=DISPATCHES.c.claims + 1,
    )
)
# Executed with {"dispatch_id"}: what a call needs, the dispatch and its webhook.
FOR_DELIVERY = (
    select(
        DISPATCHES,
        WEBHOOKS.c.request_url,
        WEBHOOKS.c.payload_template,
        WEBHOOKS.c.headers_template,
        WEBHOOKS.c.should_interpolate_strings,
        WEBHOOKS.c.ignore_ssl_errors,
        WEBHOOKS.c.do_not_retry,
        WEBHOOKS.c.signing_secret,
    )
    .join(WEBHOOKS, WEBHOOKS.c.id == DISPATCHES.c.webhook_id)
    .where(DISPATCHES.c.id == bindparam("dispatch_id"))
)
# Executed with {"dispatch_id", "owner", "calls", "status", "next_attempt_at", "finished_at"}: only
# the worker holding the lease records its call.
RECORD_CALL: Update = (
    update(DISPATCHES)
    .where(DISPATCHES.c.id == bindparam("dispatch_id"), DISPATCHES.c.lease_owner == bindparam("owner"))
    .values(
        calls=bindparam("calls", type_=DISPATCHES.c.calls.type),
        status=bindparam("status"),
        next_attempt_at=bindparam("next_attempt_at", type_=DISPATCHES.c.next_attempt_at.type),
        finished_at=bindparam("finished_at", type_=DISPATCHES.c.finished_at.type),
        lease_owner=None,
        lease_expires_at=None,
    )
)
# Executed with {"now"}: dispatches whose next call is due and that no worker holds.
DUE_DISPATCHES = (
    select(DISPATCHES.c.id, DISPATCHES.c.claims)
    .where(DISPATCHES.c.status == ACTIVE, DISPATCHES.c.next_attempt_at <= _NOW, _LEASE_FREE)
    .order_by(DISPATCHES.c.next_attempt_at)
)
