"""A request the app fails on (a bug: an exception no handler answers) gets Apify's 500 envelope, if
nothing was sent yet, and its access-log line says 500; the exception goes on to uvicorn, which logs
it (server/observability/requests.py, which took this over from Starlette's server error middleware)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from server.observability.requests import ObserveRequests

SCOPE = {"type": "http", "method": "GET", "path": "/v2/x", "headers": []}


def _call(app: Any) -> tuple[list[dict[str, Any]], BaseException | None]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def scenario() -> BaseException | None:
        try:
            await ObserveRequests(app)(dict(SCOPE), receive, send)
        except Exception as exc:
            return exc
        return None

    return sent, asyncio.run(scenario())


def test_a_failure_before_the_answer_is_answered_500_in_apify_envelope(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("a bug")

    with caplog.at_level(logging.INFO, logger="greenroom.access"):
        sent, raised = _call(failing)
    assert isinstance(raised, RuntimeError)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 500
    body = json.loads(sent[1]["body"])
    assert body == {"error": {"type": "internal-server-error", "message": "Internal server error"}}
    (line,) = [r for r in caplog.records if r.name == "greenroom.access"]
    assert line.fields["status"] == 500  # type: ignore[attr-defined]


def test_a_failure_after_the_answer_began_sends_nothing_more(caplog: pytest.LogCaptureFixture) -> None:
    async def failing_late(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("a bug, mid-answer")

    with caplog.at_level(logging.INFO, logger="greenroom.access"):
        sent, raised = _call(failing_late)
    assert isinstance(raised, RuntimeError)
    assert [(m["type"], m.get("status")) for m in sent] == [("http.response.start", 200)]
    (line,) = [r for r in caplog.records if r.name == "greenroom.access"]
    assert line.fields["status"] == 200  # type: ignore[attr-defined]
