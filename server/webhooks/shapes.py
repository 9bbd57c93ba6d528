"""Webhooks and dispatches as Apify's JSON objects (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.storage.ids import iso
from server.storage.models import Webhook, WebhookDispatch
from server.webhooks.templates import DEFAULT_PAYLOAD_TEMPLATE


def condition_json(webhook: Webhook) -> dict[str, str]:
    condition = {
        "actorId": webhook.condition_actor_id,
        "actorTaskId": webhook.condition_task_id,
        "actorRunId": webhook.condition_run_id,
    }
    return {key: value for key, value in condition.items() if value is not None}


def webhook_json(
    webhook: Webhook, last_dispatch: tuple[str, datetime | None] | None, total_dispatches: int
) -> dict[str, Any]:
    """Apify's Webhook (also what lists show: it has every field of WebhookShort). The signing
    secret is never shown, only whether there is one."""
    last = None
    if last_dispatch is not None:
        last = {"status": last_dispatch[0], "finishedAt": iso(last_dispatch[1])}
    return {
        "id": webhook.id,
        "createdAt": iso(webhook.created_at),
        "modifiedAt": iso(webhook.modified_at),
        "userId": webhook.user_id,
        "isAdHoc": webhook.is_ad_hoc,
        "isApifyIntegration": False,
        "isEnabled": True,
        "actionType": "HTTP_REQUEST",
        "shouldInterpolateStrings": webhook.should_interpolate_strings,
        "eventTypes": list(webhook.event_types),
        "condition": condition_json(webhook),
        "ignoreSslErrors": webhook.ignore_ssl_errors,
        "doNotRetry": webhook.do_not_retry,
        "requestUrl": webhook.request_url,
        "payloadTemplate": webhook.payload_template or DEFAULT_PAYLOAD_TEMPLATE,
        "headersTemplate": webhook.headers_template,
        "description": webhook.description,
        "idempotencyKey": webhook.idempotency_key,
        "hasSigningSecret": webhook.signing_secret is not None,
        "lastDispatch": last,
        "stats": {"totalDispatches": total_dispatches},
    }


def dispatch_json(dispatch: WebhookDispatch, webhook: Webhook) -> dict[str, Any]:
    """Apify's WebhookDispatch, with every call made so far."""
    return {
        "id": dispatch.id,
        "userId": dispatch.user_id,
        "webhookId": dispatch.webhook_id,
        "createdAt": iso(dispatch.created_at),
        "status": dispatch.status,
        "eventType": dispatch.event_type,
        "eventData": dispatch.event_data,
        "webhook": {
            "actionType": "HTTP_REQUEST",
            "condition": condition_json(webhook),
            "requestUrl": webhook.request_url,
            "isAdHoc": webhook.is_ad_hoc,
        },
        "calls": list(dispatch.calls or []),
    }
