"""GET /health and GET /ready on a real API process: ready only when the database and Redis answer
and the migrations are at head, and a clear 503 body saying which is not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx

from server.embedded_redis import EmbeddedRedis
from server.settings import Settings
from tests.scrape import scrape, value
from tests.stack import Stack, free_port, running


def test_health_and_ready_need_no_token(stack: Stack) -> None:
    assert httpx.get(f"{stack.url}/health").json() == {"status": "ok"}
    answer = httpx.get(f"{stack.url}/ready")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_not_ready_when_the_database_is_unreachable(settings: Settings) -> None:
    own = replace(
        settings,
        database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/nothing",
        port=free_port(),
        redis_prefix="gr-health-db",
    )
    with running(own, workers=0) as greenroom:
        assert httpx.get(f"{greenroom.url}/health").status_code == 200
        answer = httpx.get(f"{greenroom.url}/ready", timeout=10)
        samples = scrape(greenroom.url)
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["database"].startswith("unreachable: ")
    # /metrics still answers, without the SQL facts, and says the database did not.
    assert value(samples, "greenroom_facts_up", source="database") == 0
    assert value(samples, "greenroom_facts_up", source="redis") == 1
    assert ("greenroom_runs_waiting", frozenset()) not in samples


def test_not_ready_before_the_migrations(settings: Settings, tmp_path: Path) -> None:
    own = replace(settings, database_url=f"sqlite:///{tmp_path / 'empty.db'}", port=free_port())
    with running(own, workers=0) as greenroom:
        answer = httpx.get(f"{greenroom.url}/ready", timeout=10)
    assert answer.status_code == 503
    assert "greenroom db upgrade" in answer.json()["checks"]["database"]


def test_not_ready_when_redis_goes_away(settings: Settings, tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path)
    own = replace(settings, redis_url=redis.start(), port=free_port())
    try:
        with running(own, workers=0) as greenroom:
            assert httpx.get(f"{greenroom.url}/ready", timeout=10).status_code == 200
            redis.stop()
            answer = httpx.get(f"{greenroom.url}/ready", timeout=10)
            samples = scrape(greenroom.url)
    finally:
        redis.stop()
    assert answer.status_code == 503
    assert answer.json()["checks"]["redis"].startswith("unreachable: ")
    assert answer.json()["checks"]["database"] == "ok"
    assert value(samples, "greenroom_facts_up", source="redis") == 0
    assert value(samples, "greenroom_runs_waiting") == 0 and value(
        samples, "greenroom_facts_up", source="database"
    )
