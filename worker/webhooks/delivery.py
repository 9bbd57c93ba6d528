"""deliver: the RQ entry point for webhook calls. Lease the dispatch, render, sign, call, record.

One job makes one call. The lease (a compare-and-set on the dispatch) makes sure a dispatch is
called by one worker at a time, however many jobs name it; the worker that holds it records the
call and either ends the dispatch or sets when the next call is due. Retries are not jobs waiting
in Redis: the sweeper (server/sweeper/dispatches.py, every GREENROOM_SWEEP_INTERVAL_S) queues each
dispatch whose call is due and has no job waiting, which also recovers a job lost with Redis's data or with a
worker that died mid-call (its lease expires; the call is then made again, and the lost one is
recorded as such). So nothing is lost, and a receiver gets a call twice only when a worker died
after the receiver had it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from rq import Queue
from sqlalchemy import Row

from server.observability.metrics import instruments
from server.queue import make_queue
from server.settings import Settings
from server.storage.ids import iso, new_id, utcnow
from server.storage.webhooks import (
    ACTIVE,
    CLAIM_DISPATCH,
    FAILED,
    FOR_DELIVERY,
    RECORD_CALL,
    SUCCEEDED,
)
from server.webhooks.templates import DEFAULT_PAYLOAD_TEMPLATE, TemplateError, header_values, render
from worker.context import WorkerContext, get_context
from worker.outage import until_written
from worker.webhooks.http import Call, post

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Greenroom-Signature"
LOST_CALL = (
    "The worker making this call stopped before it recorded the result; "
    "the receiver may have got it. The call was made again."
)
# Set by Greenroom whatever the headers template says (Apify overwrites the first five).
_OURS = ("host", "content-type", "x-apify-webhook", "x-apify-webhook-dispatch-id", "x-apify-request-origin")
_RESERVED = frozenset((*_OURS, "content-length", "transfer-encoding", "connection", SIGNATURE_HEADER.lower()))


def webhook_queue(ctx: WorkerContext) -> Queue:
    return make_queue(ctx.redis, ctx.settings.webhook_queue_name)


def lease_s(settings: Settings) -> float:
    """Longer than any call (its deadline) with room to resolve the host and record the result."""
    return 2 * settings.webhook_timeout_s + 5


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 of "<timestamp>.<body>" with the webhook's secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def request_of(row: Row[Any], now_ms: int) -> tuple[bytes, dict[str, str]]:
    """The call's body and headers; TemplateError if the webhook's templates do not render."""
    context = {
        "userId": row.user_id,
        "createdAt": iso(row.created_at),
        "eventType": row.event_type,
        "eventData": row.event_data,
        "resource": row.resource,
        "globals": {"dateISO": iso(utcnow()), "dateUnix": now_ms},
    }
    interpolate = bool(row.should_interpolate_strings)
    payload = render(
        row.payload_template or DEFAULT_PAYLOAD_TEMPLATE, context, interpolate_strings=interpolate
    )
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"User-Agent": "Greenroom-Webhooks/1"}
    if row.headers_template:
        rendered = render(row.headers_template, context, interpolate_strings=interpolate)
        for name, value in header_values(rendered).items():
            if "\r" in value or "\n" in value:
                raise TemplateError(f"The value of header {name!r} has a line break.")
            if name.lower() not in _RESERVED:
                headers[name] = value
    headers |= {
        "Content-Type": "application/json",
        "X-Apify-Webhook": row.webhook_id,
        "X-Apify-Webhook-Dispatch-Id": row.id,
        "X-Apify-Request-Origin": "WEBHOOK",
    }
    if row.signing_secret:
        headers[SIGNATURE_HEADER] = sign(row.signing_secret, now_ms // 1000, body)
    return body, headers


def _call(row: Row[Any], settings: Settings) -> Call:
    started = utcnow()
    try:
        body, headers = request_of(row, int(time.time() * 1000))
    except TemplateError as exc:  # the webhook's own mistake: calling again would not mend it
        return Call(started, utcnow(), error_message=f"Cannot render the request: {exc}", refused=True)
    return post(
        row.request_url,
        body,
        headers,
        timeout_s=settings.webhook_timeout_s,
        ignore_ssl_errors=bool(row.ignore_ssl_errors),
        allow_private=settings.webhook_allow_private,
    )


def deliver(dispatch_id: str) -> str | None:
    """Make the dispatch's next call, if it is due and no other worker is making one."""
    ctx = get_context()
    settings = ctx.settings
    owner, now = new_id(), utcnow()
    claim = {"dispatch_id": dispatch_id, "now": now, "owner": owner, "until": now + _s(lease_s(settings))}
    with ctx.db.begin() as connection:
        if connection.execute(CLAIM_DISPATCH, claim).rowcount != 1:
            return None
        row = connection.execute(FOR_DELIVERY, {"dispatch_id": dispatch_id}).one()
    calls: list[dict[str, Any]] = list(row.calls or [])
    # Leases taken before this one that recorded no call: their workers died mid-call.
    for _ in range(row.claims - 1 - len(calls)):
        calls.append(
            {
                "startedAt": None,
                "finishedAt": None,
                "errorMessage": LOST_CALL,
                "responseStatus": None,
                "responseBody": None,
            }
        )
    call = _call(row, settings)
    instruments().webhook_calls.labels("succeeded" if call.succeeded else "failed").inc()
    calls.append(call.as_json())
    status, next_at = _after(call, len(calls), bool(row.do_not_retry), settings.webhook_retry_delays_s)
    record = {
        "dispatch_id": dispatch_id,
        "owner": owner,
        "calls": calls,
        "status": status,
        "next_attempt_at": next_at or row.next_attempt_at,
        "finished_at": None if status == ACTIVE else call.finished_at,
    }

    def write() -> None:
        with ctx.db.begin() as connection:
            connection.execute(RECORD_CALL, record)

    # The call was made: a database that is away is waited for, rather than the call made again.
    until_written(write, f"the call of webhook dispatch {dispatch_id}")
    return status


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _after(
    call: Call, calls_made: int, do_not_retry: bool, delays: tuple[float, ...]
) -> tuple[str, datetime | None]:
    """The dispatch's status after this call, and when the next call is due (if any)."""
    if call.succeeded:
        return SUCCEEDED, None
    retries_made = calls_made - 1
    if call.refused or do_not_retry or retries_made >= len(delays):
        return FAILED, None
    return ACTIVE, call.finished_at + _s(delays[retries_made])
