"""/v2/webhooks (CRUD, test, dispatches), /v2/webhook-dispatches, and an actor's or task's webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from server.api.auth import authenticate
from server.api.body import read_json_object
from server.api.pagination import Page, page_params, paginated
from server.errors import NotFound
from server.lifespan import state_of
from server.responses import data_response
from server.services.resolve import get_actor, get_task
from server.services.webhooks import (
    create_webhook,
    delete_webhook,
    get_webhook,
    test_webhook,
    update_webhook,
)
from server.storage.models import User, Webhook, WebhookDispatch
from server.webhooks.shapes import dispatch_json, webhook_json

Summary = tuple[tuple[str, datetime | None] | None, int]


async def _summaries(session: AsyncSession, webhook_ids: list[str]) -> dict[str, Summary]:
    """Per webhook: its last dispatch (status, finishedAt) and how many it has made."""
    if not webhook_ids:
        return {}
    mine = WebhookDispatch.webhook_id.in_(webhook_ids)
    per_webhook = (
        select(WebhookDispatch.webhook_id, func.count()).where(mine).group_by(WebhookDispatch.webhook_id)
    )
    counts = {webhook_id: count for webhook_id, count in (await session.execute(per_webhook)).all()}
    newest = func.row_number().over(
        partition_by=WebhookDispatch.webhook_id,
        order_by=(WebhookDispatch.created_at.desc(), WebhookDispatch.id.desc()),
    )
    ranked = (
        select(
            WebhookDispatch.webhook_id, WebhookDispatch.status, WebhookDispatch.finished_at, newest.label("n")
        )
        .where(mine)
        .subquery()
    )
    last = await session.execute(
        select(ranked.c.webhook_id, ranked.c.status, ranked.c.finished_at).where(ranked.c.n == 1)
    )
    lasts = {webhook_id: (status, finished) for webhook_id, status, finished in last.all()}
    return {webhook_id: (lasts.get(webhook_id), count) for webhook_id, count in counts.items()}


async def _shown(session: AsyncSession, webhook: Webhook) -> dict[str, Any]:
    last, total = (await _summaries(session, [webhook.id])).get(webhook.id, (None, 0))
    return webhook_json(webhook, last, total)


async def _page_of_webhooks(request: Request, user: User, *where: ColumnElement[bool]) -> Response:
    """By createdAt (then id, for one order across pages), as Apify lists webhooks."""
    page: Page = page_params(request)
    order = (Webhook.created_at.desc(), Webhook.id.desc()) if page.desc else (Webhook.created_at, Webhook.id)
    where = (Webhook.user_id == user.id, *where)
    async with state_of(request).db.read() as session:
        total = (await session.execute(select(func.count()).select_from(Webhook).where(*where))).scalar_one()
        stmt = select(Webhook).where(*where).order_by(*order).offset(page.offset).limit(page.limit)
        hooks = (await session.execute(stmt)).scalars().all()
        summaries = await _summaries(session, [h.id for h in hooks])
    return paginated(page, total, [webhook_json(h, *summaries.get(h.id, (None, 0))) for h in hooks])


async def list_(request: Request) -> Response:
    return await _page_of_webhooks(request, await authenticate(request))


async def list_for_actor(request: Request) -> Response:
    user = await authenticate(request)
    async with state_of(request).db.read() as session:
        actor = await get_actor(session, user, request.path_params["actorId"])
    return await _page_of_webhooks(request, user, Webhook.condition_actor_id == actor.id)


async def list_for_task(request: Request) -> Response:
    user = await authenticate(request)
    async with state_of(request).db.read() as session:
        task = await get_task(session, user, request.path_params["actorTaskId"])
    return await _page_of_webhooks(request, user, Webhook.condition_task_id == task.id)


async def create(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    webhook = await create_webhook(state, user, body)
    async with state.db.read() as session:
        shown = await _shown(session, webhook)
    return data_response(shown, 201, f"{state.settings.api_base_url}/v2/webhooks/{webhook.id}")


async def get(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    async with state.db.read() as session:
        webhook = await get_webhook(session, user, request.path_params["webhookId"])
        return data_response(await _shown(session, webhook))


async def update(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    webhook = await update_webhook(state, user, request.path_params["webhookId"], body)
    async with state.db.read() as session:
        return data_response(await _shown(session, webhook))


async def delete_(request: Request) -> Response:
    state = state_of(request)
    await delete_webhook(state, await authenticate(request), request.path_params["webhookId"])
    return Response(status_code=204)


async def test(request: Request) -> Response:
    state = state_of(request)
    user = await authenticate(request)
    dispatch = await test_webhook(state, user, request.path_params["webhookId"])
    async with state.db.read() as session:
        webhook = await get_webhook(session, user, dispatch.webhook_id)
    return data_response(dispatch_json(dispatch, webhook), 201)


async def _page_of_dispatches(request: Request, *where: ColumnElement[bool]) -> Response:
    page: Page = page_params(request)
    by = WebhookDispatch
    order = (by.created_at.desc(), by.id.desc()) if page.desc else (by.created_at, by.id)
    async with state_of(request).db.read() as session:
        total = (await session.execute(select(func.count()).select_from(by).where(*where))).scalar_one()
        stmt = (
            select(by, Webhook)
            .join(Webhook, Webhook.id == by.webhook_id)
            .where(*where)
            .order_by(*order)
            .offset(page.offset)
            .limit(page.limit)
        )
        rows = (await session.execute(stmt)).all()
    return paginated(page, total, [dispatch_json(d, w) for d, w in rows])


async def list_dispatches(request: Request) -> Response:
    user = await authenticate(request)
    return await _page_of_dispatches(request, WebhookDispatch.user_id == user.id)


async def dispatches_of(request: Request) -> Response:
    user = await authenticate(request)
    async with state_of(request).db.read() as session:
        webhook = await get_webhook(session, user, request.path_params["webhookId"])
    return await _page_of_dispatches(request, WebhookDispatch.webhook_id == webhook.id)


async def get_dispatch(request: Request) -> Response:
    user = await authenticate(request)
    dispatch_id = request.path_params["dispatchId"]
    async with state_of(request).db.read() as session:
        row = None
        if "\x00" not in dispatch_id:
            stmt = (
                select(WebhookDispatch, Webhook)
                .join(Webhook, Webhook.id == WebhookDispatch.webhook_id)
                .where(WebhookDispatch.id == dispatch_id, WebhookDispatch.user_id == user.id)
            )
            row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise NotFound("Webhook dispatch was not found")
    return data_response(dispatch_json(*row))
