"""Schedules firing: runs started with origin SCHEDULER, once per due time across every sweeper,
isExclusive, late and missed due times, and disabling."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select, update

from server.settings import Settings
from server.storage.db import SyncDatabase, create_sync_engine
from server.storage.ids import utcnow
from server.storage.models import Run, Schedule, ScheduleInvocation
from tests.actors import callable_actor
from tests.conftest import isolated_database, new_account
from tests.stack import free_port, running


def _task(api: httpx.Client, target: str, task_input: dict | None = None) -> str:
    name = f"fire-{target.replace('_', '-')}"
    actor = api.post("/acts", json=callable_actor(name, target))
    assert actor.status_code == 201, actor.text
    body = {"actId": actor.json()["data"]["id"], "name": f"{name}-task", "input": task_input or {}}
    task = api.post("/actor-tasks", json=body)
    assert task.status_code == 201, task.text
    return str(task.json()["data"]["id"])


def _schedule(api: httpx.Client, cron: str, task_id: str, **fields: object) -> dict:
    body = {"cronExpression": cron, "actions": [{"type": "RUN_ACTOR_TASK", "actorTaskId": task_id}], **fields}
    answer = api.post("/schedules", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["data"])


def _runs(db: SyncDatabase, task_id: str) -> list[Run]:
    with db.transaction() as session:
        return list(session.execute(select(Run).where(Run.actor_task_id == task_id)).scalars())


def _until(what: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_schedule_starts_its_tasks_runs_then_stops_when_disabled(
    api: httpx.Client, db: SyncDatabase
) -> None:
    task_id = _task(api, "echo", {"a": 1, "b": 1})
    schedule = _schedule(api, "*/2 * * * * *", task_id, name="every-two-s")
    schedule["actions"][0]["input"] = {"b": 2}
    assert api.put(f"/schedules/{schedule['id']}", json={"actions": schedule["actions"]}).status_code == 200
    _until(lambda: len([r for r in _runs(db, task_id) if r.status == "SUCCEEDED"]) >= 2)
    assert api.put(f"/schedules/{schedule['id']}", json={"isEnabled": False}).status_code == 200
    time.sleep(1)  # a firing already under way commits
    runs = _runs(db, task_id)
    time.sleep(3)
    assert len(_runs(db, task_id)) == len(runs), "a disabled schedule fired"
    assert {r.origin for r in runs} == {"SCHEDULER"}
    run = api.get(f"/actor-runs/{runs[0].id}").json()["data"]
    log = api.get(f"/schedules/{schedule['id']}/log").json()["data"]
    (entry,) = [e for e in log if run["id"] in e["runIds"]]
    assert run["meta"] | {"clientIp": None, "userAgent": None} == {
        "origin": "SCHEDULER",
        "clientIp": None,
        "userAgent": None,
        "scheduleId": schedule["id"],
        "scheduledAt": entry["dueAt"],
    }
    output = api.get(f"/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT").json()
    assert output == {"input": {"a": 1, "b": 2}}  # the task's input with the action's laid over it
    log = api.get(f"/schedules/{schedule['id']}/log").json()["data"]
    assert sorted(r for entry in log for r in entry["runIds"]) == sorted(r.id for r in runs)
    assert all(entry["level"] == "INFO" and entry["message"].startswith("Schedule invoked") for entry in log)
    due = [entry["dueAt"] for entry in log]
    assert len(set(due)) == len(due)
    assert api.get(f"/schedules/{schedule['id']}").json()["data"]["lastRunAt"] is not None


def test_an_exclusive_schedule_skips_while_its_last_run_goes(api: httpx.Client, db: SyncDatabase) -> None:
    task_id = _task(api, "sleep", {"seconds": 5})
    schedule = _schedule(api, "* * * * * *", task_id, isExclusive=True)
    _until(
        lambda: any(
            "Skipped (isExclusive)" in e["message"]
            for e in api.get(f"/schedules/{schedule['id']}/log").json()["data"]
        )
    )
    _until(lambda: len(_runs(db, task_id)) >= 2, timeout_s=40)
    api.put(f"/schedules/{schedule['id']}", json={"isEnabled": False})
    time.sleep(1)
    runs = sorted(_runs(db, task_id), key=lambda r: r.started_at)
    for before, after in itertools.pairwise(runs):
        # Each run started only once the one before had ended.
        assert before.finished_at is not None and after.started_at >= before.finished_at


def test_a_due_time_missed_in_an_outage_fires_late_once_or_is_logged_missed(
    api: httpx.Client, db: SyncDatabase
) -> None:
    task_id = _task(api, "noop")
    late = _schedule(api, "0 0 1 1 *", task_id, name="late")  # next due: next New Year
    missed = _schedule(api, "0 0 1 1 *", task_id, name="missed")
    with db.transaction() as session:  # as if nothing had swept for a while
        for schedule_id, ago in ((late["id"], timedelta(seconds=30)), (missed["id"], timedelta(hours=2))):
            session.execute(
                update(Schedule).where(Schedule.id == schedule_id).values(next_run_at=utcnow() - ago)
            )
    _until(lambda: len(api.get(f"/schedules/{missed['id']}/log").json()["data"]) == 1)
    _until(lambda: len(api.get(f"/schedules/{late['id']}/log").json()["data"]) == 1)
    (fired,) = api.get(f"/schedules/{late['id']}/log").json()["data"]
    assert fired["level"] == "INFO" and len(fired["runIds"]) == 1
    (skipped,) = api.get(f"/schedules/{missed['id']}/log").json()["data"]
    assert skipped["level"] == "WARNING" and skipped["runIds"] == []
    assert "GREENROOM_SCHEDULE_MAX_LATE_S" in skipped["message"]
    time.sleep(2.5)  # another sweep or more: neither fires again
    assert len(_runs(db, task_id)) == 1
    for schedule in (late, missed):
        after = api.get(f"/schedules/{schedule['id']}").json()["data"]
        assert after["nextRunAt"] > utcnow().isoformat()[:4]  # moved on to the next New Year


def test_two_pools_and_two_apis_fire_each_due_time_once(settings: Settings, tmp_path: Path) -> None:
    """Two deployments' sweepers on one database (their own prefixes: their own sweeper locks, so
    nothing but SQL keeps them from firing the same due time), a schedule due every second."""
    with isolated_database(settings, tmp_path) as own:
        own = replace(own, sweep_interval_s=0.3)
        other = replace(own, redis_prefix=own.redis_prefix + "-b", port=free_port(), proxy_port=free_port())
        account = new_account(own)
        with running(own, workers=1) as first, running(other, workers=1), first.client(account.token) as api:
            task_id = _task(api, "noop")
            schedule = _schedule(api, "* * * * * *", task_id)
            db = SyncDatabase(create_sync_engine(own.sql_url))
            try:
                _until(lambda: len(_runs(db, task_id)) >= 8, timeout_s=60)
                api.put(f"/schedules/{schedule['id']}", json={"isEnabled": False})
                time.sleep(1)
                runs = _runs(db, task_id)
                with db.transaction() as session:
                    invocations = list(
                        session.execute(
                            select(ScheduleInvocation).where(ScheduleInvocation.schedule_id == schedule["id"])
                        ).scalars()
                    )
            finally:
                db.engine.dispose()
    assert all(len(i.run_ids) == 1 for i in invocations), [(i.due_at, i.run_ids) for i in invocations]
    assert sorted(r for i in invocations for r in i.run_ids) == sorted(r.id for r in runs)
    assert len({i.due_at for i in invocations}) == len(invocations) == len(runs)


def test_an_action_that_cannot_start_leaves_the_others_runs(api: httpx.Client, db: SyncDatabase) -> None:
    kept, doomed = _task(api, "echo"), _task(api, "noop")
    actions = [{"type": "RUN_ACTOR_TASK", "actorTaskId": t} for t in (doomed, kept)]
    answer = api.post("/schedules", json={"cronExpression": "0 0 1 1 *", "actions": actions})
    assert answer.status_code == 201, answer.text
    schedule = answer.json()["data"]
    assert api.delete(f"/actor-tasks/{doomed}").status_code == 204  # gone before the schedule fires
    with db.transaction() as session:  # due a moment ago
        due = update(Schedule).where(Schedule.id == schedule["id"]).values(next_run_at=utcnow())
        session.execute(due)
    _until(lambda: len(api.get(f"/schedules/{schedule['id']}/log").json()["data"]) == 1)
    (entry,) = api.get(f"/schedules/{schedule['id']}/log").json()["data"]
    assert entry["level"] == "ERROR"
    assert f"task {doomed}: not started" in entry["message"]
    (run,) = _runs(db, kept)
    assert entry["runIds"] == [run.id]
