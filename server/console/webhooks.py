"""Webhooks: the list, a new webhook, a webhook's page with its dispatches and a Test button."""

from __future__ import annotations

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.console.guard import console_page
from server.console.templating import page
from server.lifespan import state_of
from server.services.webhook_checks import EVENT_TYPES
from server.services.webhooks import create_webhook, get_webhook, test_webhook
from server.storage.models import Actor, User, Webhook, WebhookDispatch

EVENTS = sorted(EVENT_TYPES - {"TEST"})


@console_page
async def list_webhooks(request: Request, user: User, form: FormData) -> Response:
    async with state_of(request).db.read() as session:
        stmt = select(Webhook).where(Webhook.user_id == user.id, Webhook.is_ad_hoc.is_(False))
        webhooks = (await session.execute(stmt.order_by(Webhook.created_at.desc()))).scalars().all()
        actors = (await session.execute(select(Actor).where(Actor.user_id == user.id))).scalars().all()
    return page(request, "webhooks.html", user, webhooks=webhooks, actors=actors, events=EVENTS)


@console_page
async def create(request: Request, user: User, form: FormData) -> Response:
    body = {
        "eventTypes": [e for e in form.getlist("event") if isinstance(e, str)],
        "requestUrl": form.get("url"),
        "condition": {"actorId": form.get("actor")},
    }
    webhook = await create_webhook(state_of(request), user, body)
    return RedirectResponse(f"/webhooks/{webhook.id}", 303)


@console_page
async def show_webhook(request: Request, user: User, form: FormData) -> Response:
    async with state_of(request).db.read() as session:
        webhook = await get_webhook(session, user, request.path_params["webhookId"])
        stmt = select(WebhookDispatch).where(WebhookDispatch.webhook_id == webhook.id)
        dispatches = (
            (await session.execute(stmt.order_by(WebhookDispatch.created_at.desc()).limit(50)))
            .scalars()
            .all()
        )
    return page(request, "webhook.html", user, webhook=webhook, dispatches=dispatches)


@console_page
async def test(request: Request, user: User, form: FormData) -> Response:
    webhook_id = request.path_params["webhookId"]
    await test_webhook(state_of(request), user, webhook_id)
    return RedirectResponse(f"/webhooks/{webhook_id}", 303)
