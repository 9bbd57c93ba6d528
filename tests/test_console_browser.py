"""The web console in a real browser: headless Chromium (Debian's, driven by Playwright) against a
real Greenroom. Sign in, create a task, run it from its input form, watch the log and the status,
read OUTPUT and the dataset table, abort a long run, and a second user who sees none of it.

Every page is captured as a screenshot (laptop width, and the run page at phone width too) under
$GREENROOM_SCREENSHOTS, else build/console-screenshots/ (git ignores build/); the test prints it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.storage.db import SyncDatabase
from tests import services
from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import ROOT, Stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCHEMA: dict[str, Any] = {
    "title": "Greet",
    "type": "object",
    "schemaVersion": 1,
    "properties": {
        "greeting": {
            "title": "Greeting",
            "type": "string",
            "description": "What to say",
            "editor": "textfield",
        },
        "times": {"title": "Times", "type": "integer", "description": "How often", "default": 1},
        "loud": {"title": "Loud", "type": "boolean", "description": "Shout it"},
    },
    "required": ["greeting"],
}


@pytest.fixture
def browser(db: SyncDatabase) -> Iterator[Any]:
    if db.engine.dialect.name == "sqlite" and services.postgres_available():
        # One backend is enough: the console reads through the same services on both, and a browser
        # costs seconds of CPU; the API's own tests cover both databases.
        pytest.skip("the browser test runs on PostgreSQL when it is there (SQLite otherwise)")
    if not os.path.exists(CHROMIUM):
        if services.IN_CI:
            pytest.fail("CI must run the console in Chromium, and it is not installed (.ci/run installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def shots() -> Path:
    # Not pytest's temporary directory: it keeps only the last three sessions' folders.
    folder = Path(os.environ.get("GREENROOM_SCREENSHOTS") or ROOT / "build" / "console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {folder}")
    return folder


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _sign_in(page: Any, stack: Stack, token: str) -> None:
    page.goto(f"{stack.url}/")
    page.wait_for_url(re.compile(r"/sign-in"))
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/runs$"))


def _actors(api: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    greet = callable_actor("greet", "echo")
    greet["versions"][0]["sourceFiles"] = [
        {"name": ".actor/input_schema.json", "format": "TEXT", "content": json.dumps(SCHEMA)}
    ]
    made = api.post("/acts", json=greet)
    assert made.status_code == 201, made.text
    sleeper = api.post("/acts", json=callable_actor("sleeper", "sleep"))
    assert sleeper.status_code == 201, sleeper.text
    return made.json()["data"], sleeper.json()["data"]


def test_the_console_in_a_browser(
    browser: Any, shots: Path, stack: Stack, api: httpx.Client, account: Account, db: SyncDatabase
) -> None:
    from server.users import create_user

    greet, sleeper = _actors(api)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()

    page.goto(f"{stack.url}/sign-in")
    _shot(page, shots, "01-sign-in")
    page.fill("input[name=token]", "not-a-token")
    page.click("button[type=submit]")
    assert "not valid" in page.inner_text("main")
    _sign_in(page, stack, account.token)
    cookie = next(c for c in context.cookies() if c["name"] == "greenroom_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # Actors: the list, and an actor's page with its Run form built from the schema.
    page.goto(f"{stack.url}/actors")
    assert "greet" in page.inner_text("main") and "sleeper" in page.inner_text("main")
    _shot(page, shots, "02-actors")
    page.click("text=greet")
    assert page.locator("input[name='input.greeting']").count() == 1
    assert page.locator("input[name='input.loud'][type=checkbox]").count() == 1
    _shot(page, shots, "03-actor")
    actor_url = page.url
    page.click("a:text-is('log')")
    page.wait_for_url(re.compile(r"/builds/\w+$"))
    page.wait_for_function("document.querySelector('#log').dataset.state === 'ended'", timeout=30_000)
    _shot(page, shots, "03-build")
    page.goto(actor_url)

    # A task, created in the console, run from its input form.
    page.goto(f"{stack.url}/tasks")
    page.select_option("#new-task select[name=actor]", greet["id"])
    page.fill("#new-task input[name=name]", "greet-task")
    page.fill("#new-task textarea[name=input_json]", json.dumps({"greeting": "hello"}))
    _shot(page, shots, "04-tasks")
    page.click("#new-task button[type=submit]")
    page.wait_for_url(re.compile(r"/tasks/\w+$"))
    assert page.input_value("input[name='input.greeting']") == "hello"
    page.fill("input[name='input.greeting']", "hi there")
    page.fill("input[name='input.times']", "3")
    page.check("input[name='input.loud']")
    page.fill("input[name=timeout]", "120")
    page.click("button:text-is('Save input and options')")  # saved: the page shows the task's own
    page.wait_for_url(re.compile(r"/tasks/\w+$"))
    assert page.input_value("input[name='input.greeting']") == "hi there"
    assert page.get_attribute("input[name=timeout]", "placeholder") == "120"
    _shot(page, shots, "05-task")
    page.click("#run-form button[value=run]")
    page.wait_for_url(re.compile(r"/runs/\w+$"))
    run_url = page.url
    # The status changes live, then the page shows the results.
    page.wait_for_selector("[data-status=SUCCEEDED]", timeout=30_000)
    page.wait_for_selector("#dataset", timeout=10_000)
    page.wait_for_function("document.querySelector('#log').textContent.includes('echo got')", timeout=10_000)
    text = page.inner_text("main")
    assert "echoed" in text  # the status message
    assert '"greeting": "hi there"' in text and '"times": 3' in text and '"loud": true' in text  # OUTPUT
    assert "seen" in page.inner_text("#dataset")
    _shot(page, shots, "06-run-succeeded")
    csv_href = page.get_attribute("a:text-is('csv')", "href")
    assert csv_href is not None
    csv = httpx.get(f"{stack.url}{csv_href}")
    assert csv.status_code == 200 and "seen" in csv.text
    # The run's storages: the store shows OUTPUT by its content type, the dataset its table.
    page.click("a:text-is('store')")
    page.click("a:text-is('OUTPUT')")
    assert '"greeting": "hi there"' in page.inner_text("main")
    _shot(page, shots, "07-key-value-store")
    page.goto(run_url)
    page.click("a:text-is('dataset')")
    assert "seen" in page.inner_text("#dataset")
    _shot(page, shots, "07-dataset")
    page.goto(run_url)
    page.click("a:text-is('queue')")
    _shot(page, shots, "07-request-queue")
    for kind in ("datasets", "key-value-stores", "request-queues"):
        page.goto(f"{stack.url}/{kind}")
        assert run_url.rsplit("/", 1)[1] in page.inner_text("main")
        _shot(page, shots, f"07-{kind}")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.add_cookies([cookie])
    phone_page = phone.new_page()
    phone_page.goto(run_url)
    _shot(phone_page, shots, "07-run-phone")
    phone.close()

    # The log as it is written: "first" shows while the run waits for its GO record, then "second"
    # and the status change follow without a reload by the test.
    stepper = api.post("/acts", json=callable_actor("stepper", "log_then_wait_for_go")).json()["data"]
    page.goto(f"{stack.url}/actors/{stepper['id']}")
    page.click("#run-form button[value=run]")
    page.wait_for_url(re.compile(r"/runs/\w+$"))
    page.wait_for_function("document.querySelector('#log').textContent.includes('first')", timeout=30_000)
    page.wait_for_selector("[data-status=RUNNING]", timeout=10_000)
    assert "second" not in page.inner_text("#log")
    _shot(page, shots, "08-run-live-log")
    step_run = api.get(f"/actor-runs/{page.url.rsplit('/', 1)[1]}").json()["data"]
    put = api.put(f"/key-value-stores/{step_run['defaultKeyValueStoreId']}/records/GO", json={"go": True})
    assert put.status_code in (200, 201), put.text
    page.wait_for_selector("[data-status=SUCCEEDED]", timeout=30_000)
    page.wait_for_function(
        "document.querySelector('#log').textContent.includes('second red')", timeout=10_000
    )

    # A long run, started from the schema-less actor's JSON editor, then aborted.
    page.goto(f"{stack.url}/actors/{sleeper['id']}")
    page.fill("textarea[name=input_json]", json.dumps({"seconds": 120}))
    page.click("#run-form button[value=run]")
    page.wait_for_url(re.compile(r"/runs/\w+$"))
    page.wait_for_selector("[data-status=RUNNING]", timeout=30_000)
    _shot(page, shots, "08-run-running-long")
    page.click("button.danger")
    page.wait_for_selector("[data-status=ABORTED]", timeout=30_000)
    _shot(page, shots, "09-run-aborted")

    page.goto(f"{stack.url}/runs")
    page.wait_for_selector("#run-rows tr")
    rows = page.inner_text("#run-rows")
    assert "SUCCEEDED" in rows and "ABORTED" in rows and "WEB" in rows
    _shot(page, shots, "10-runs")
    page.goto(f"{stack.url}/runs?status=ABORTED")
    assert "SUCCEEDED" not in page.inner_text("#run-rows")

    # Webhooks: one created in the console, and its Test button makes a dispatch.
    page.goto(f"{stack.url}/webhooks")
    page.select_option("#new-webhook select[name=actor]", greet["id"])
    page.fill("#new-webhook input[name=url]", "https://hooks.example.com/greenroom")
    page.check("#new-webhook input[value='ACTOR.RUN.SUCCEEDED']")
    _shot(page, shots, "13-webhooks")
    page.click("#new-webhook button[type=submit]")
    page.wait_for_url(re.compile(r"/webhooks/\w+$"))
    page.click("button:text-is('Test')")
    page.wait_for_url(re.compile(r"/webhooks/\w+$"))
    assert "TEST" in page.inner_text("#dispatches")
    _shot(page, shots, "14-webhook")

    # API tokens: create one (shown once, and it works), then revoke it.
    page.goto(f"{stack.url}/tokens")
    page.click("button:text-is('Create a token')")
    made = page.inner_text("#new-token").strip()
    assert (
        httpx.get(f"{stack.url}/v2/users/me", headers={"Authorization": f"Bearer {made}"}).status_code == 200
    )
    _shot(page, shots, "15-tokens")
    assert page.locator("#tokens tbody tr").count() == 2
    page.locator("#tokens tbody tr", has_not_text="this browser").locator("button").click()
    page.wait_for_url(re.compile(r"/tokens$"))
    assert page.locator("#tokens tbody tr").count() == 1
    assert (
        httpx.get(f"{stack.url}/v2/users/me", headers={"Authorization": f"Bearer {made}"}).status_code == 401
    )

    # The system page: the suite's workers are alive.
    page.goto(f"{stack.url}/system")
    assert page.locator("#workers tbody tr td", has_text="No worker").count() == 0
    _shot(page, shots, "16-system")

    # Another user sees none of it, and the first user's run page is a 404 for them.
    _, other_token = create_user(db, f"other{account.username}")
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    other_page = other.new_page()
    _sign_in(other_page, stack, other_token)
    assert "No runs yet" in other_page.inner_text("#run-rows")
    _shot(other_page, shots, "11-other-user-runs")
    response = other_page.goto(run_url)
    assert response is not None and response.status == 404
    _shot(other_page, shots, "12-other-user-404")
    other.close()

    # A form without the CSRF token is refused; signing out ends the session.
    refused = httpx.post(
        f"{stack.url}/runs/{run_url.rsplit('/', 1)[1]}/resurrect",
        cookies={"greenroom_console": account.token},
        headers={"Origin": stack.url},
    )
    assert refused.status_code == 403
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/sign-in$"))
    page.goto(run_url)
    page.wait_for_url(re.compile(r"/sign-in"))
    context.close()
