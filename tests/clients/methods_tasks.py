"""Rows: builds, tasks, the user, and what is not provided of the account, schedules and Apify Store."""

from __future__ import annotations

from datetime import timedelta

from tests.clients.rows import Row, absent, field_of, has, js_has, row

# Publishing shows a task on its public page in Apify Store (its actor must be public there too).
PUBLIC_TASKS = "public task pages are Apify Store's, which does not exist here (isPublic is not kept)"

BUILDS: list[Row] = [
    row(
        "BuildCollectionClient",
        "list",
        "list",
        lambda c, w: c.actor(w.actor_id).builds().list(),
        js_has("c.actor(w.actor_id).builds().list()", "build_id"),
        lambda w: True,
        pick=has("build_id"),
    ),
    row(
        "BuildCollectionClient",
        "iterate",
        None,
        lambda c, w: c.builds().iterate(),
        None,
        lambda w: True,
        pick=has("build_id"),
    ),
    row(
        "BuildClient",
        "get",
        "get",
        lambda c, w: c.build(w.build_id).get(),
        "return (await c.build(w.build_id).get()).actId;",
        lambda w: w.actor_id,
        pick=field_of("act_id"),
    ),
    row(
        "BuildClient",
        "wait_for_finish",
        "waitForFinish",
        lambda c, w: c.build(w.build_id).wait_for_finish(wait_duration=timedelta(seconds=10)),
        "return (await c.build(w.build_id).waitForFinish({ waitSecs: 10 })).status;",
        lambda w: "SUCCEEDED",
        pick=field_of("status"),
    ),
    # Apify answers abort of a finished build with the build, unchanged.
    row(
        "BuildClient",
        "abort",
        "abort",
        lambda c, w: c.build(w.build_id).abort(),
        "return (await c.build(w.build_id).abort()).status;",
        lambda w: "SUCCEEDED",
        pick=field_of("status"),
    ),
    row(
        "BuildClient",
        "get_open_api_definition",
        "getOpenApiDefinition",
        lambda c, w: c.build(w.build_id).get_open_api_definition(),
        "return 'openapi' in (await c.build(w.build_id).getOpenApiDefinition());",
        lambda w: True,
        pick=lambda r, w: "openapi" in r,
    ),
    row(
        "BuildClient",
        "delete",
        "delete",
        lambda c, w: c.build(w.spare_build_id).delete(),
        "await c.build(w.spare_build_id).delete(); return (await c.build(w.spare_build_id).get()) ==="
        " undefined;",
        lambda w: True,
        pick=lambda r, w: w.read(f"/actor-builds/{w.spare_build_id}") is None,
    ),
]

TASKS: list[Row] = [
    row(
        "TaskCollectionClient",
        "create",
        "create",
        lambda c, w: c.tasks().create(actor_id=w.actor_id, name="made-task"),
        "return (await c.tasks().create({ actId: w.actor_id, name: 'made-task' })).name;",
        lambda w: "made-task",
        pick=field_of("name"),
    ),
    row(
        "TaskCollectionClient",
        "list",
        "list",
        lambda c, w: c.tasks().list(),
        js_has("c.tasks().list()", "task_id"),
        lambda w: True,
        pick=has("task_id"),
    ),
    row(
        "TaskCollectionClient",
        "iterate",
        None,
        lambda c, w: c.tasks().iterate(),
        None,
        lambda w: True,
        pick=has("task_id"),
    ),
    row(
        "TaskClient",
        "get",
        "get",
        lambda c, w: c.task(w.task_id).get(),
        "return (await c.task(w.task_id).get()).actId;",
        lambda w: w.actor_id,
        pick=field_of("act_id"),
    ),
    row(
        "TaskClient",
        "get_input",
        "getInput",
        lambda c, w: c.task(w.task_id).get_input(),
        "return await c.task(w.task_id).getInput();",
        lambda w: {"a": 1},
    ),
    row(
        "TaskClient",
        "start",
        "start",
        lambda c, w: c.task(w.task_id).start(task_input={"b": 1}),
        "return (await c.task(w.task_id).start({ b: 1 })).actorTaskId;",
        lambda w: w.task_id,
        pick=field_of("actor_task_id"),
    ),
    row(
        "TaskClient",
        "call",
        "call",
        lambda c, w: c.task(w.task_id).call(task_input={"b": 2}),
        "return (await c.task(w.task_id).call({ b: 2 })).status;",
        lambda w: "SUCCEEDED",
        pick=field_of("status"),
    ),
    row(
        "TaskClient",
        "update",
        "update",
        lambda c, w: c.task(w.task_id).update(title="World task"),
        "return (await c.task(w.task_id).update({ title: 'World task' })).title;",
        lambda w: "World task",
        pick=field_of("title"),
    ),
    row(
        "TaskClient",
        "update_input",
        "updateInput",
        lambda c, w: c.task(w.task_id).update_input(task_input={"a": 2}),
        "return await c.task(w.task_id).updateInput({ a: 2 });",
        lambda w: {"a": 2},
    ),
    absent("TaskClient", "publish", "publish", PUBLIC_TASKS),
    absent("TaskClient", "unpublish", "unpublish", PUBLIC_TASKS),
    row(
        "TaskClient",
        "delete",
        "delete",
        lambda c, w: c.task(w.spare_task_id).delete(),
        "await c.task(w.spare_task_id).delete(); return (await c.task(w.spare_task_id).get()) === undefined;",
        lambda w: True,
        pick=lambda r, w: w.read(f"/actor-tasks/{w.spare_task_id}") is None,
    ),
]

ACCOUNT: list[Row] = [
    row(
        "UserClient",
        "get",
        "get",
        lambda c, w: c.user().get(),
        "return (await c.user().get()).username;",
        lambda w: w.username,
        pick=field_of("username"),
    ),
    row(
        "UserClient",
        "monthly_usage",
        "monthlyUsage",
        lambda c, w: c.user().monthly_usage(),
        "return (await c.user().monthlyUsage()) !== undefined;",
        lambda w: True,
        pick=lambda r, w: r is not None,
    ),
    row(
        "UserClient",
        "limits",
        "limits",
        lambda c, w: c.user().limits(),
        "return (await c.user().limits()).limits.maxConcurrentActorJobs;",
        lambda w: 25,  # GREENROOM_MAX_CONCURRENT_RUNS's default: the suite's users have no override
        pick=lambda r, w: r.limits.max_concurrent_actor_jobs,
    ),
    absent(
        "UserClient",
        "update_limits",
        "updateLimits",
        "its two fields (maxMonthlyUsageUsd, dataRetentionDays) mean nothing here: Greenroom bills no "
        "one and retention is a setting; PUT /v2/users/me/limits changes run limits, for admins",
    ),
    *(
        absent("ScheduleCollectionClient", m, j, "schedules: the issue on schedules (/v2/schedules)")
        for m, j in (("create", "create"), ("list", "list"), ("iterate", None))
    ),
    *(
        absent("ScheduleClient", m, j, "schedules: the issue on schedules (/v2/schedules)")
        for m, j in (("get", "get"), ("update", "update"), ("delete", "delete"), ("get_log", "getLog"))
    ),
    absent("StoreCollectionClient", "list", "list", "Apify Store does not exist here (/v2/store)"),
    absent("StoreCollectionClient", "iterate", None, "Apify Store does not exist here (/v2/store)"),
]
