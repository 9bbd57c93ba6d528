"""Webhooks: create (idempotencyKey: the same key gives the same webhook), update, delete, test; a
run's ad-hoc webhooks; and queueing the dispatches a transaction made, once it has committed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.errors import InvalidInput, NotFound
from server.queue import enqueue_new_dispatches, make_queue
from server.services.resolve import get_actor, get_run, get_task
from server.services.webhook_checks import check_fields, check_templates
from server.storage.dialects import insert_for
from server.storage.ids import new_id, utcnow
from server.storage.models import User, Webhook, WebhookDispatch
from server.storage.webhooks import INSERT_DISPATCH, WEBHOOKS
from server.webhooks.events import NEW_DISPATCHES, dispatch_row

if TYPE_CHECKING:  # the lifespan imports the sweeper, which starts runs with this module
    from server.lifespan import AppState

_DEFAULTS: dict[str, Any] = {
    "is_ad_hoc": False,
    "condition_actor_id": None,
    "condition_task_id": None,
    "condition_run_id": None,
    "payload_template": None,
    "headers_template": None,
    "should_interpolate_strings": False,
    "ignore_ssl_errors": False,
    "do_not_retry": False,
    "description": None,
    "idempotency_key": None,
    "signing_secret": None,
}
_CONDITION = (
    ("actorId", "condition_actor_id"),
    ("actorTaskId", "condition_task_id"),
    ("actorRunId", "condition_run_id"),
)


async def enqueue_dispatches(state: AppState, ids: list[str]) -> None:
    """After the transaction that made them committed: queue dispatches for delivery."""
    if ids:
        await enqueue_new_dispatches(make_queue(state.redis, state.settings.webhook_queue_name), ids)


async def enqueue_dispatches_of(state: AppState, session: AsyncSession) -> None:
    """After the session's transaction committed: queue the dispatches it made for delivery."""
    await enqueue_dispatches(state, session.info.pop(NEW_DISPATCHES, []))


def _insert_ignoring_duplicates(dialect: str) -> Any:
    """An insert that skips a row whose (user_id, idempotency_key) is taken already."""
    insert = insert_for(dialect)
    return insert(WEBHOOKS).on_conflict_do_nothing()


def add_ad_hoc_webhooks(
    session: Session, dialect: str, user_id: str, run_id: str, hooks: list[dict[str, Any]]
) -> None:
    """The `webhooks` parameter's webhooks (checked already), in the run's transaction. One whose
    idempotencyKey the user has used already is not made again."""
    now = utcnow()
    rows = [
        _DEFAULTS
        | hook
        | {
            "id": new_id(),
            "user_id": user_id,
            "is_ad_hoc": True,
            "condition_run_id": run_id,
            "created_at": now,
            "modified_at": now,
        }
        for hook in hooks
    ]
    session.execute(_insert_ignoring_duplicates(dialect), rows)


async def get_webhook(session: AsyncSession, user: User, webhook_id: str) -> Webhook:
    if "\x00" not in webhook_id:
        stmt = select(Webhook).where(Webhook.id == webhook_id, Webhook.user_id == user.id)
        webhook = (await session.execute(stmt)).scalar_one_or_none()
        if webhook is not None:
            return webhook
    raise NotFound("Webhook was not found")


async def _condition(session: AsyncSession, user: User, value: Any) -> dict[str, str | None]:
    """Apify's condition {actorId, actorTaskId, actorRunId} (ids or `username~name`), resolved to
    the user's resources; every one given must match for the webhook to fire."""
    if not isinstance(value, dict) or not any(value.get(field) for field, _ in _CONDITION):
        raise InvalidInput("Webhook 'condition' must name an actorId, an actorTaskId or an actorRunId.")
    out: dict[str, str | None] = {column: None for _, column in _CONDITION}
    for field, column in _CONDITION:
        ref = value.get(field)
        if ref is None:
            continue
        if not isinstance(ref, str) or not ref:
            raise InvalidInput(f"Webhook 'condition.{field}' must be a string.")
        if field == "actorId":
            out[column] = (await get_actor(session, user, ref)).id
        elif field == "actorTaskId":
            out[column] = (await get_task(session, user, ref)).id
        else:
            out[column] = (await get_run(session, user, ref)).id
    return out


async def create_webhook(state: AppState, user: User, body: dict[str, Any]) -> Webhook:
    """POST /v2/webhooks. With an idempotencyKey the user used before: that webhook, unchanged."""
    fields = check_fields(body, state.settings, required=True)
    async with state.db.transaction() as session:
        fields |= await _condition(session, user, body.get("condition"))
        values = _DEFAULTS | fields
        check_templates(
            values["payload_template"], values["headers_template"], values["should_interpolate_strings"]
        )
        now = utcnow()
        webhook_id = new_id()
        row = values | {"id": webhook_id, "user_id": user.id, "created_at": now, "modified_at": now}
        insert = _insert_ignoring_duplicates(state.db.dialect).returning(WEBHOOKS.c.id)
        if (await session.execute(insert, row)).scalar_one_or_none() is not None:
            stmt = select(Webhook).where(Webhook.id == webhook_id)
        else:
            key = values["idempotency_key"]
            stmt = select(Webhook).where(Webhook.user_id == user.id, Webhook.idempotency_key == key)
        return (await session.execute(stmt)).scalar_one()


async def update_webhook(state: AppState, user: User, webhook_id: str, body: dict[str, Any]) -> Webhook:
    """PUT: the fields the body names; an empty condition (what the clients send for "no change")
    leaves the condition. The idempotencyKey cannot change."""
    fields = check_fields(body, state.settings, required=False)
    fields.pop("idempotency_key", None)
    async with state.db.transaction() as session:
        webhook = await get_webhook(session, user, webhook_id)
        condition = body.get("condition")
        if isinstance(condition, dict) and not any(v is not None for v in condition.values()):
            condition = None
        if condition is not None:
            fields |= await _condition(session, user, condition)
        for column, value in fields.items():
            setattr(webhook, column, value)
        check_templates(
            webhook.payload_template, webhook.headers_template, webhook.should_interpolate_strings
        )
        webhook.modified_at = utcnow()
    return webhook


async def delete_webhook(state: AppState, user: User, webhook_id: str) -> None:
    """Its dispatches go with it, so nothing more is sent."""
    async with state.db.transaction() as session:
        webhook = await get_webhook(session, user, webhook_id)
        await session.execute(delete(Webhook).where(Webhook.id == webhook.id))


async def test_webhook(state: AppState, user: User, webhook_id: str) -> WebhookDispatch:
    """POST /v2/webhooks/:id/test: a TEST dispatch with a dummy payload (no eventData, an empty
    resource), delivered as any other."""
    async with state.db.transaction() as session:
        webhook = await get_webhook(session, user, webhook_id)
        row = dispatch_row(webhook.id, user.id, "TEST", None, {}, utcnow())
        await session.execute(INSERT_DISPATCH, row)
        session.info.setdefault(NEW_DISPATCHES, []).append(row["id"])
        dispatch = (
            await session.execute(select(WebhookDispatch).where(WebhookDispatch.id == row["id"]))
        ).scalar_one()
    await enqueue_dispatches_of(state, session)
    return dispatch
