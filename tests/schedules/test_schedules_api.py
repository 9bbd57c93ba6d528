"""/v2/schedules with the official Python client, and bad input."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
from apify_client import ApifyClient

from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack, free_port


def _task(api: httpx.Client, name: str = "sched") -> str:
    actor = api.post("/acts", json=callable_actor(f"{name}-actor", "echo"))
    assert actor.status_code == 201, actor.text
    task = api.post("/actor-tasks", json={"actId": actor.json()["data"]["id"], "name": f"{name}-task"})
    assert task.status_code == 201, task.text
    return str(task.json()["data"]["id"])


def test_the_python_clients_schedule_calls(stack: Stack, api: httpx.Client, account: Account) -> None:
    """The issue's reproduction: create, list, get, update, get_log and delete, as a user calls them."""
    task_id = _task(api)
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    created = client.schedules().create(
        cron_expression="0 8 * * *",
        is_enabled=True,
        is_exclusive=True,
        name="morning",
        timezone="Europe/Prague",
        actions=[{"type": "RUN_ACTOR_TASK", "actorTaskId": task_id, "input": {"hello": "world"}}],
        description="every morning",
    )
    assert created.name == "morning" and created.cron_expression == "0 8 * * *"
    assert created.timezone == "Europe/Prague" and created.is_exclusive
    next_run = created.next_run_at
    assert next_run is not None and next_run > datetime.now(UTC)
    assert next_run.astimezone(ZoneInfo("Europe/Prague")).strftime("%H:%M") == "08:00"
    schedule = client.schedule(created.id)
    got = schedule.get()
    assert got is not None and got.id == created.id and len(got.actions) == 1
    for ref in ("morning", "~morning", f"{account.username}~morning"):
        named = client.schedule(ref).get()
        assert named is not None and named.id == created.id
    listed = client.schedules().list()
    assert [s.id for s in listed.items] == [created.id] and listed.total == 1
    updated = schedule.update(cron_expression="30 9 * * 1", is_enabled=False)
    assert updated.cron_expression == "30 9 * * 1" and not updated.is_enabled
    assert updated.next_run_at is None  # disabled: it is due never
    enabled = schedule.update(is_enabled=True)
    assert enabled.next_run_at is not None
    assert enabled.next_run_at.astimezone(ZoneInfo("Europe/Prague")).strftime("%a %H:%M") == "Mon 09:30"
    assert schedule.get_log() == []
    schedule.delete()
    assert schedule.get() is None
    assert client.schedules().list().total == 0


def test_bad_schedules_are_400_and_another_users_are_404(
    stack: Stack, api: httpx.Client, settings, account: Account
) -> None:
    task_id = _task(api, "bad")
    action = {"type": "RUN_ACTOR_TASK", "actorTaskId": task_id}
    for body, says in [
        ({"actions": [action]}, "cronExpression' is required"),
        ({"cronExpression": "61 * * * *"}, "is not valid"),
        ({"cronExpression": "* * *"}, "must have 5 fields"),
        ({"cronExpression": "@daily", "timezone": "Nowhere/Land"}, "is not an IANA time zone"),
        ({"cronExpression": "@daily", "actions": [{"type": "RUN_SOMETHING"}]}, "must be RUN_ACTOR or"),
        ({"cronExpression": "@daily", "actions": "nope"}, "must be an array"),
        ({"cronExpression": "@daily", "isEnabled": "yes"}, "must be true or false"),
    ]:
        answer = api.post("/schedules", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["type"] == "invalid-input" and says in answer.json()["error"]["message"]
    missing = api.post(
        "/schedules",
        json={
            "cronExpression": "@daily",
            "actions": [{"type": "RUN_ACTOR_TASK", "actorTaskId": "nosuchtask"}],
        },
    )
    assert missing.status_code == 404
    assert api.get("/schedules").json()["data"]["total"] == 0  # nothing was written
    mine = api.post("/schedules", json={"cronExpression": "@daily", "name": "mine", "actions": [action]})
    assert mine.status_code == 201, mine.text
    twin = api.post("/schedules", json={"cronExpression": "@hourly", "name": "mine"})
    assert twin.status_code == 409
    # By attack: another user neither sees, changes nor deletes it, nor points a schedule at its task.
    from tests.conftest import new_account

    intruder = new_account(settings)
    schedule_id = mine.json()["data"]["id"]
    with stack.client(intruder.token) as theirs:
        assert theirs.get(f"/schedules/{schedule_id}").status_code == 404
        assert theirs.get(f"/schedules/{account.username}~mine").status_code == 404
        assert theirs.put(f"/schedules/{schedule_id}", json={"isEnabled": False}).status_code == 404
        assert theirs.delete(f"/schedules/{schedule_id}").status_code == 404
        assert theirs.get(f"/schedules/{schedule_id}/log").status_code == 404
        assert theirs.get("/schedules").json()["data"]["total"] == 0
        hijack = theirs.post("/schedules", json={"cronExpression": "@daily", "actions": [action]})
        assert hijack.status_code == 404
    after = api.get(f"/schedules/{schedule_id}").json()["data"]
    assert after["isEnabled"] is True


def test_one_schedule_over_the_limit_is_402_naming_the_setting(stack: Stack, account: Account) -> None:
    url = stack.start_api(replace(stack.settings, port=free_port(), max_schedules_per_user=2))
    with httpx.Client(base_url=f"{url}/v2", headers={"Authorization": f"Bearer {account.token}"}) as api:
        disabled = {"cronExpression": "@daily", "isEnabled": False}
        assert [api.post("/schedules", json=disabled).status_code for _ in range(2)] == [201, 201]
        refused = api.post("/schedules", json={"cronExpression": "@daily"})
        assert refused.status_code == 402
        assert refused.json()["error"]["type"] == "too-many-schedules"
        assert "GREENROOM_MAX_SCHEDULES_PER_USER" in refused.json()["error"]["message"]
        assert api.get("/schedules").json()["data"]["total"] == 2
