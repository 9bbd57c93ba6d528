"""Fixtures: real Redis, a database built by the migrations (SQLite, and PostgreSQL when present),
and a real Greenroom (uvicorn + RQ workers) per database backend."""

from __future__ import annotations

import base64
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.migrate import upgrade
from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from server.users import create_user
from tests import services
from tests.stack import Stack, free_port, running
from worker import sandbox
from worker.sandbox.views import detach


def _views_under_pytests_temp() -> list[Path]:
    """Premade sandboxes' views (worker/sandbox/views.py) mounted under pytest's temporary
    directories: a worker a test killed leaves its ready standby's, as on any host."""
    root = f"{tempfile.gettempdir()}/pytest-of-"
    views = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4].startswith(root) and fields[-2] == "greenroom-view":
            views.append(Path(fields[4]))
    return views


def _take_down_views(config: pytest.Config) -> None:
    """Before the first test and after the last, in the process that runs the session (not in an
    xdist worker, whose siblings' Greenrooms are still running): pytest's cleanup of its old
    temporary directories cannot remove a mount point, and would fail the run."""
    if hasattr(config, "workerinput"):
        return
    for view in _views_under_pytests_temp():
        detach(view)


def pytest_sessionstart(session: pytest.Session) -> None:
    _take_down_views(session.config)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _take_down_views(session.config)


BACKENDS = ["sqlite", "postgresql"]
TEST_SECRETS_KEY = base64.b64encode(b"greenroom test secrets key, 32+ bytes long").decode()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with services.redis_url(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database: SQLite always, PostgreSQL when reachable (required in CI)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'greenroom.db'}"
        upgrade(url)
        yield url
        return
    if not services.postgres_available():
        if services.IN_CI:
            pytest.fail("CI must run on the local PostgreSQL at 127.0.0.1:5432, and it is not reachable")
        pytest.skip("PostgreSQL is not reachable here")
    with services.postgres_database() as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def sandbox_mode() -> str:
    """`on` where this machine can sandbox actors (root, bubblewrap, a memory cgroup: .ci/run installs
    what is missing); elsewhere `off`, and the sandbox's own tests skip (CI fails instead)."""
    found = sandbox.probe(Settings())
    if isinstance(found, sandbox.Sandbox):
        return "on"
    if services.IN_CI:
        pytest.fail(f"CI must run actors in the sandbox, and this machine cannot: {found}")
    return "off"


# The suite makes thousands of requests a second with one token: counted, never refused
# (tests/test_rate_limits.py and tests/test_in_flight.py have Greenrooms with low limits). A test
# that makes its Settings from scratch passes these too.
SUITE_LIMITS: dict[str, Any] = {
    "rate_limit_per_s": 1_000_000,
    "rate_limit_resource_per_s": 1_000_000,
    "rate_limit_record_per_s": 1_000_000,
    "rate_limit_heavy_per_s": 1_000_000,
    "max_in_flight_per_caller": 10_000,
}


@pytest.fixture(scope="session")
def settings(
    database_url: str, redis_url: str, sandbox_mode: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        sandbox=sandbox_mode,
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"gr-test-{uuid.uuid4().hex[:8]}",
        port=free_port(),
        proxy_port=free_port(),
        kill_grace_s=1.0,
        secrets_key=TEST_SECRETS_KEY,
        callable_modules=("tests.actors",),
        # Runs a test leaves going do not hold up the workers' stop at the end of the session.
        worker_stop_grace_s=3.0,
        **SUITE_LIMITS,
    )


@pytest.fixture(scope="session")
def db(settings: Settings) -> Iterator[SyncDatabase]:
    database = SyncDatabase(create_sync_engine(settings.sql_url))
    yield database
    database.engine.dispose()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Stack]:
    """uvicorn + a pool of two RQ workers, shared by the tests of one backend."""
    with running(settings, workers=2) as greenroom:
        yield greenroom


@dataclass
class Account:
    username: str
    user_id: str
    token: str


@pytest.fixture
def account(db: SyncDatabase) -> Account:
    """A new user per test: tests never see each other's resources."""
    user, token = create_user(db, f"u{uuid.uuid4().hex[:12]}")
    return Account(user.username, user.id, token)


@pytest.fixture(scope="session")
def sdk_owner(db: SyncDatabase) -> Account:
    """The one user per backend who owns the suite's Apify SDK actors: a build directory is made once
    per files and owner (worker/builder.py), so their actors share one pip or npm install instead of
    one per test (10-30 s each)."""
    user, token = create_user(db, f"sdk{uuid.uuid4().hex[:12]}")
    return Account(user.username, user.id, token)


@pytest.fixture
def api(stack: Stack, account: Account) -> Iterator[httpx.Client]:
    with stack.client(account.token) as client:
        yield client


@pytest.fixture(scope="session")
def root() -> Path:
    return Path(__file__).resolve().parent.parent


@contextmanager
def isolated_database(settings: Settings, tmp: Path) -> Iterator[Settings]:
    """The session's settings on a fresh migrated database of the same backend, with a prefix and a
    port of their own: for a test's own Greenroom, which the session's workers (another prefix, on
    the session's database) must not sweep, re-enqueue or finish the runs and dispatches of."""
    with ExitStack() as stack:
        if settings.database_url.startswith("sqlite"):
            url = f"sqlite:///{tmp / 'isolated.db'}"
        else:
            url = stack.enter_context(services.postgres_database())
        upgrade(url)
        yield replace(
            settings,
            database_url=url,
            redis_prefix=f"gr-own-{uuid.uuid4().hex[:8]}",
            port=free_port(),
            proxy_port=free_port(),
        )


def new_account(settings: Settings) -> Account:
    """A new user in the database of `settings`."""
    db = SyncDatabase(create_sync_engine(settings.sql_url))
    try:
        user, token = create_user(db, f"u{uuid.uuid4().hex[:12]}")
        return Account(user.username, user.id, token)
    finally:
        db.engine.dispose()


@pytest.fixture
def isolated_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    with isolated_database(settings, tmp_path) as own:
        yield own


@pytest.fixture
def isolated_account(isolated_settings: Settings) -> Account:
    return new_account(isolated_settings)
