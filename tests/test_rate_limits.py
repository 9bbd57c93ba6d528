"""Request rate limits per token (server/rate_limits.py): Apify's 429 with its headers, per caller and
per resource; the official clients retry by themselves; counts shared between API processes; Redis
away: each process counts its own."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest
from apify_client import ApifyClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.rate_limits import SYNC_S, RateLimits
from server.settings import Settings
from tests.actors import callable_actor
from tests.conftest import Account, new_account
from tests.npm import NODE, NPM, run_js
from tests.stack import Stack, free_port, running


@pytest.fixture
def limited(isolated_settings: Settings) -> Iterator[Stack]:
    """A Greenroom (API only) allowing 8 requests a second per token, 3 per resource."""
    settings = replace(isolated_settings, rate_limit_per_s=8, rate_limit_resource_per_s=3)
    with running(settings, workers=0) as stack:
        yield stack


def burst(api: httpx.Client, path: str, count: int) -> list[httpx.Response]:
    """`count` GETs of `path` sent at once, early in a fresh second. Sent one after another they can
    straddle the edge of a one-second window and fit twice the limit (CI saw 6 GETs at a limit of 3
    split 3 + 3); sent at once, more than twice the limit is always over it in one window."""
    time.sleep(1 - time.time() % 1)
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: api.get(path), range(count)))


def test_over_the_limit_answers_429_with_apifys_envelope_and_headers(
    limited: Stack, isolated_settings: Settings
) -> None:
    alice, bob = new_account(limited.settings), new_account(limited.settings)
    with limited.client(alice.token) as api, limited.client(bob.token) as other:
        answers = burst(api, "/users/me", 20)
        ok = [a for a in answers if a.status_code == 200]
        refused = [a for a in answers if a.status_code == 429]
        assert ok and refused and len(ok) + len(refused) == 20
        assert ok[0].headers["X-RateLimit-Limit"] == "8"
        error = refused[0].json()["error"]
        assert error["type"] == "rate-limit-exceeded"
        assert "rate limit of 8 requests per second" in error["message"]
        assert refused[0].headers["Retry-After"] == "1"
        assert refused[0].headers["X-RateLimit-Limit"] == "8"
        # Another token has a count of its own.
        assert other.get("/users/me").status_code == 200


def test_a_resource_has_its_own_lower_limit(limited: Stack) -> None:
    account = new_account(limited.settings)
    with limited.client(account.token) as api:
        actor = api.post("/acts", json=callable_actor("quick", "noop")).json()["data"]
        answers = burst(api, f"/acts/{actor['id']}", 8)
        refused = [a for a in answers if a.status_code == 429]
        assert refused, [a.status_code for a in answers]
        assert refused[0].headers["X-RateLimit-Limit"] == "3"
        assert f"acts/{actor['id']}" in refused[0].json()["error"]["message"]


def test_the_python_client_retries_429s_by_itself(limited: Stack) -> None:
    account = new_account(limited.settings)
    client = ApifyClient(token=account.token, api_url=limited.url)  # its default retries
    users = [client.user().get() for _ in range(15)]  # 15 calls at 8 a second: some get a 429 first
    assert all(user is not None and user.username == account.username for user in users)
    with limited.client(account.token) as api:  # the limit was in force meanwhile
        assert 429 in {a.status_code for a in burst(api, "/users/me", 20)}


@pytest.mark.skipif(
    NODE is None or NPM is None, reason="node and npm are not on PATH (the JS check is optional)"
)
@pytest.mark.timeout(300)
def test_the_js_client_retries_429s_by_itself(limited: Stack) -> None:
    account = new_account(limited.settings)
    assert run_js("rate_limit.mjs", limited.url, account.token, "15") == {"ok": 15}


def _hello_app(settings: Settings) -> RateLimits:
    """The middleware alone, as one API process has it, in front of one /v2 endpoint."""

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"data": "hello"})

    return RateLimits(Starlette(routes=[Route("/v2/hello", hello)]), settings)


async def _hellos(app: RateLimits, count: int, pause_s: float = 0.0) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        statuses = []
        for _ in range(count):
            statuses.append((await client.get("/v2/hello", params={"token": "t"})).status_code)
            await asyncio.sleep(pause_s)
        return statuses


def test_redis_away_counts_in_the_process_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listens at the Redis address: every request is still answered, and the process's own
    count still holds the limit."""
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_per_s=2)

    async def calls() -> list[int]:
        app = _hello_app(settings)
        time.sleep(1 - time.time() % 1)  # one window
        statuses = await _hellos(app, 5)
        await asyncio.sleep(SYNC_S * 4)  # the sync fails meanwhile
        return statuses

    with caplog.at_level(logging.WARNING, logger="server.rate_limits"):
        assert asyncio.run(calls()) == [200, 200, 429, 429, 429]
    assert [r.message for r in caplog.records if "counted in this process only" in r.message]


def test_api_processes_share_their_counts(isolated_settings: Settings) -> None:
    """Two API processes of a deployment on one Redis: what one counted, the other refuses on. (Each
    alone would let all 6 of its requests through, at a limit of 8.)"""
    settings = replace(isolated_settings, rate_limit_per_s=8)

    async def calls() -> tuple[list[int], list[int]]:
        first, second = _hello_app(settings), _hello_app(settings)
        time.sleep(1 - time.time() % 1)  # one window
        ones = await _hellos(first, 6)
        await asyncio.sleep(SYNC_S * 3)  # the first's counts are in Redis
        return ones, await _hellos(second, 6, pause_s=SYNC_S)

    ones, twos = asyncio.run(calls())
    assert ones == [200] * 6
    assert twos.count(200) < 3 and twos.count(429) > 3, twos


def test_the_suite_account_is_not_limited(api: httpx.Client, account: Account) -> None:
    """The session's Greenroom counts but never refuses (tests/conftest.py raises the limits)."""
    assert {api.get("/users/me").status_code for _ in range(30)} == {200}
