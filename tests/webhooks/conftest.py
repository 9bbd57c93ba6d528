"""A webhook Greenroom of a module's own (webhooks_support.webhook_stack) on a database of its own, a
user in that database and a client for it: for the tests whose receivers are on loopback, which the
session's Greenroom refuses to call.

The names differ from tests/conftest.py's (`account`, `db`) on purpose: test_webhooks_api.py and
test_webhooks_client.py use those on the session's Greenroom, and an override here would reach them.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from server.settings import Settings
from tests.conftest import Account, isolated_database, new_account
from tests.stack import Stack
from tests.webhooks.webhooks_support import webhook_stack


@pytest.fixture(scope="module")
def hooks_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with isolated_database(settings, tmp_path_factory.mktemp("hooks")) as own:
        yield own


@pytest.fixture(scope="module")
def hooks_stack(hooks_settings: Settings) -> Iterator[Stack]:
    with webhook_stack(hooks_settings) as stack:
        yield stack


@pytest.fixture
def hooks_account(hooks_settings: Settings) -> Account:
    """A new user per test, in the module's own Greenroom's database."""
    return new_account(hooks_settings)


@pytest.fixture
def hooks_api(hooks_stack: Stack, hooks_account: Account) -> Iterator[httpx.Client]:
    with hooks_stack.client(hooks_account.token) as client:
        yield client
