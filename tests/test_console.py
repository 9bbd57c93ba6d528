"""The console over plain HTTP (no browser): sign-in and its cookie, CSRF refusals, ownership, the
API's routes untouched by the console's; and the input form built from a schema."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.datastructures import FormData

from server.console.input_form import fields, read_input
from server.console.session import csrf_token
from server.console.views import record_view
from server.errors import InvalidInput
from server.settings import Settings
from server.storage.db import SyncDatabase
from server.storage.models import KeyValueRecord
from server.users import create_user
from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack


def _console(stack: Stack, token: str | None = None) -> httpx.Client:
    cookies = {"greenroom_console": token} if token else {}
    return httpx.Client(base_url=stack.url, cookies=cookies, follow_redirects=False, timeout=30)


def _run(api: httpx.Client) -> dict[str, Any]:
    actor = api.post("/acts", json=callable_actor("quick", "echo")).json()["data"]
    run = api.post(f"/acts/{actor['id']}/runs?waitForFinish=30", json={"a": 1})
    assert run.status_code == 201, run.text
    return dict(run.json()["data"])


def test_signing_in_sets_a_strict_httponly_cookie(stack: Stack, account: Account) -> None:
    with _console(stack) as console:
        home = console.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/sign-in"
        assert console.get("/runs").headers["location"] == "/sign-in?next=/runs"
        assert console.post("/sign-in", data={"token": "nope"}).status_code == 401
        foreign = console.post(
            "/sign-in", data={"token": account.token}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        signed = console.post("/sign-in", data={"token": account.token, "next": "//evil.example/x"})
        assert signed.status_code == 303 and signed.headers["location"] == "/runs"
        cookie = signed.headers["set-cookie"]
        assert re.search(r"httponly", cookie, re.I) and re.search(r"samesite=strict", cookie, re.I)
        runs = console.get("/runs")
        assert runs.status_code == 200
        assert runs.headers["x-frame-options"] == "DENY" and runs.headers["cache-control"] == "no-store"


def test_forms_without_the_csrf_token_or_from_another_site_are_refused(
    stack: Stack, account: Account, api: httpx.Client
) -> None:
    run = _run(api)
    good = csrf_token(account.token)
    with _console(stack, account.token) as console:
        assert console.post(f"/runs/{run['id']}/resurrect", data={}).status_code == 403
        assert console.post(f"/runs/{run['id']}/resurrect", data={"csrf": "0" * 64}).status_code == 403
        cross = console.post(
            f"/runs/{run['id']}/resurrect", data={"csrf": good}, headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403
        done = console.post(f"/runs/{run['id']}/resurrect", data={"csrf": good})
        assert done.status_code == 303 and done.headers["location"] == f"/runs/{run['id']}"
        # htmx sends the token as a header.
        assert console.post("/tokens", headers={"X-CSRF-Token": good}).status_code == 200


def test_another_user_sees_none_of_it(
    stack: Stack, account: Account, api: httpx.Client, db: SyncDatabase
) -> None:
    run = _run(api)
    _, other = create_user(db, f"x{account.username}")
    with _console(stack, account.token) as mine, _console(stack, other) as theirs:
        assert run["id"] in mine.get("/runs").text
        assert run["id"] not in theirs.get("/runs").text
        assert theirs.get(f"/runs/{run['id']}").status_code == 404
        assert theirs.get(f"/runs/{run['id']}/log").status_code == 404
        assert theirs.get(f"/datasets/{run['defaultDatasetId']}").status_code == 404
        assert theirs.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/raw/OUTPUT").status_code == 404
        refused = theirs.post(f"/runs/{run['id']}/abort", data={"csrf": csrf_token(other)})
        assert refused.status_code == 404


def test_a_store_shows_records_by_content_type(stack: Stack, account: Account, api: httpx.Client) -> None:
    run = _run(api)
    store = run["defaultKeyValueStoreId"]
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    assert api.put(
        f"/key-value-stores/{store}/records/pic", content=png, headers={"Content-Type": "image/png"}
    ).is_success
    assert api.put(
        f"/key-value-stores/{store}/records/note",
        content=b"<b>hi</b>",
        headers={"Content-Type": "text/plain"},
    ).is_success
    with _console(stack, account.token) as console:
        listing = console.get(f"/key-value-stores/{store}").text
        assert all(key in listing for key in ("INPUT", "OUTPUT", "pic", "note"))
        assert (
            f'<img class="record" src="/key-value-stores/{store}/raw/pic"'
            in console.get(f"/key-value-stores/{store}?key=pic").text
        )
        raw = console.get(f"/key-value-stores/{store}/raw/pic")
        assert raw.content == png and raw.headers["content-type"] == "image/png"
        assert (
            "&lt;b&gt;hi&lt;/b&gt;" in console.get(f"/key-value-stores/{store}?key=note").text
        )  # escaped text
        assert (
            "{\n  &#34;a&#34;: 1\n}" in console.get(f"/key-value-stores/{store}?key=INPUT").text
        )  # JSON, pretty


def test_the_api_keeps_its_routes(stack: Stack, account: Account) -> None:
    with _console(stack, account.token) as console:
        missing = console.get("/v2/no-such-thing")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/json")
        assert console.get("/v2/users/me").status_code == 401  # the cookie is not an API credential
        assert console.get("/static/htmx.min.js").status_code == 200


SCHEMA_PROPERTIES: dict[str, Any] = {
    "url": {"type": "string", "title": "URL", "prefill": "https://a.example", "_required": True},
    "max": {"type": "integer", "title": "Max", "default": 10},
    "ratio": {"type": "number", "title": "Ratio"},
    "loud": {"type": "boolean", "title": "Loud"},
    "mode": {"type": "string", "title": "Mode", "enum": ["fast", "slow"]},
    "tags": {"type": "array", "title": "Tags", "prefill": ["x"]},
}


def test_the_input_form_follows_the_schema() -> None:
    shown = {f.name: f for f in fields(SCHEMA_PROPERTIES, {"max": 3})}
    assert [shown[n].kind for n in SCHEMA_PROPERTIES] == [
        "text",
        "integer",
        "number",
        "boolean",
        "select",
        "json",
    ]
    assert shown["url"].value == "https://a.example" and shown["url"].required
    assert shown["max"].value == 3 and shown["tags"].value == '[\n  "x"\n]'
    assert shown["mode"].choices == ("fast", "slow")
    form = FormData(
        [
            ("input.url", "https://b.example"),
            ("input.max", "5"),
            ("input.ratio", ""),
            ("input.loud", "on"),
            ("input.mode", "slow"),
            ("input.tags", '["a", "b"]'),
        ]
    )
    got = read_input(form, SCHEMA_PROPERTIES, Settings())
    assert got == {"url": "https://b.example", "max": 5, "loud": True, "mode": "slow", "tags": ["a", "b"]}
    assert read_input(FormData([("input_json", '{"x": 1}')]), None, Settings()) == {"x": 1}


def test_a_record_too_deep_to_show_as_json_is_shown_as_text() -> None:
    """Records are stored as sent; one nested 100,000 deep made the store's page a 500."""
    deep = b"[" * 100_000 + b"]" * 100_000
    record = KeyValueRecord(
        value=deep, content_type="application/json", content_encoding=None, size=len(deep)
    )
    view = record_view(record)
    assert view is not None and view["kind"] == "text"


def test_form_input_is_json_as_the_api_reads_it() -> None:
    """Deep nesting (RecursionError), NaN and inf (stored as invalid JSON): 400s, as in API bodies."""
    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    for raw in (deep, '{"a": NaN}', '{"a": 1e400}', '{"a": "\\ud800"}'):
        with pytest.raises(InvalidInput):
            read_input(FormData([("input_json", raw)]), None, Settings())
        with pytest.raises(InvalidInput):
            read_input(FormData([("input.tags", raw)]), SCHEMA_PROPERTIES, Settings())
    for number in ("1e400", "inf", "nan"):
        with pytest.raises(InvalidInput):
            read_input(FormData([("input.ratio", number)]), SCHEMA_PROPERTIES, Settings())


def test_the_system_page_says_how_long_data_is_kept(stack: Stack, account: Account) -> None:
    with _console(stack, account.token) as console:
        page = console.get("/system")
    assert page.status_code == 200
    days = f"{stack.settings.retention_days:g} days"
    assert "Data retention" in page.text and days in page.text and "Named storages are kept" in page.text


def test_schedules_pages_make_show_and_switch_a_schedule_and_hide_it_from_others(
    stack: Stack, account: Account, api: httpx.Client, db: SyncDatabase
) -> None:
    actor = api.post("/acts", json=callable_actor("planned", "echo")).json()["data"]
    task = api.post("/actor-tasks", json={"actId": actor["id"], "name": "planned-task"}).json()["data"]
    _, other = create_user(db, f"s{account.username}")
    with _console(stack, account.token) as console, _console(stack, other) as theirs:
        assert "planned-task" in console.get("/schedules").text  # offered in the form
        form = {
            "csrf": csrf_token(account.token),
            "task": task["id"],
            "name": "nightly",
            "cron": "0 3 * * *",
            "timezone": "Europe/Prague",
            "enabled": "on",
        }
        made = console.post("/schedules", data=form)
        assert made.status_code == 303, made.text
        path = made.headers["location"]
        shown = console.get(path)
        assert shown.status_code == 200 and "0 3 * * *" in shown.text and "Europe/Prague" in shown.text
        assert "nightly" in console.get("/schedules").text
        schedule_id = path.rsplit("/", 1)[1]
        assert api.get(f"/schedules/{schedule_id}").json()["data"]["isEnabled"] is True
        switched = console.post(
            f"{path}/switch", data={"csrf": csrf_token(account.token), "enabled": "false"}
        )
        assert switched.status_code == 303
        assert api.get(f"/schedules/{schedule_id}").json()["data"]["isEnabled"] is False
        bad = console.post("/schedules", data=form | {"cron": "61 * * * *", "name": "broken"})
        assert bad.status_code == 400 and "is not valid" in bad.text
        # Another user: not listed, not shown, not switched.
        assert "nightly" not in theirs.get("/schedules").text
        assert theirs.get(path).status_code == 404
        refused = theirs.post(f"{path}/switch", data={"csrf": csrf_token(other), "enabled": "true"})
        assert refused.status_code == 404
        assert api.get(f"/schedules/{schedule_id}").json()["data"]["isEnabled"] is False


def test_an_actor_page_shows_its_standby_url_once_enabled(
    stack: Stack, account: Account, api: httpx.Client
) -> None:
    actor = api.post("/acts", json=callable_actor("served", "echo")).json()["data"]
    url = f"{stack.url}/v2/actor-standby/{account.username}--served/"
    with _console(stack, account.token) as console:
        assert url not in console.get(f"/actors/{actor['id']}").text
        api.put(f"/acts/{actor['id']}", json={"actorStandby": {"isEnabled": True}}).raise_for_status()
        page = console.get(f"/actors/{actor['id']}")
    assert page.status_code == 200 and url in page.text
