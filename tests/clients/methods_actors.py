"""Rows: runs first (two sleepers hold the workers until the first rows abort or stop them), then
actors, versions, env vars, builds and tasks. Rows run in this order; a destructive call comes after
the calls that read what it destroys, and works on a spare resource."""

from __future__ import annotations

from datetime import timedelta

from tests.clients.rows import Pending, Row, absent, field_of, row

# Publishing shows a task on its public page in Apify Store (its actor must be public there too).
PUBLIC_TASKS = "public task pages are Apify Store's, which does not exist here (isPublic is not kept)"
SOURCE = [{"name": "main.py", "format": "TEXT", "content": "print('made')"}]


def _ids(result, world) -> list[str]:  # type: ignore[no-untyped-def]
    items = result if isinstance(result, list) else result.items
    return [item.id for item in items]


def _has(attr: str):  # type: ignore[no-untyped-def]
    """pick: is the world's `attr` among the listed ids."""
    return lambda result, world: getattr(world, attr) in _ids(result, world)


def _logged(text: str):  # type: ignore[no-untyped-def]
    return lambda result, world: any(text in message for message in world.logged)


JS_HAS = "return (await {call}).items.map((x) => x.id).includes(w.{attr});"


def _js_has(call: str, attr: str) -> str:
    return JS_HAS.format(call=call, attr=attr)


RUNS: list[Row] = [
    row(
        "RunClient",
        "abort",
        "abort",
        lambda c, w: c.run(w.abort_run_id).abort(),
        "return ['ABORTING', 'ABORTED'].includes((await c.run(w.abort_run_id).abort()).status);",
        lambda w: True,
        pick=lambda r, w: r.status in ("ABORTING", "ABORTED"),
    ),
    row(
        "RunClient",
        "charge",
        "charge",
        lambda c, w: c.run(w.live_run_id).charge("world-event", count=2),
        "await c.run(w.live_run_id).charge({ eventName: 'world-event', count: 2 }); return true;",
        lambda w: True,
        pick=lambda r, w: r is None,
        status=Pending("POST /v2/actor-runs/{runId}/charge"),
    ),
    row(
        "RunClient",
        "charge",
        "charge",
        lambda c, w: c.actor(w.sleeper_id).last_run().charge("world-event"),
        "await c.actor(w.sleeper_id).lastRun().charge({ eventName: 'world-event' }); return true;",
        lambda w: True,
        pick=lambda r, w: r is None,
        status=Pending("POST /v2/actors/{actorId}/runs/last/charge"),
        via="actor.last_run()",
    ),
    row(
        "RunClient",
        "reboot",
        "reboot",
        lambda c, w: c.run(w.live_run_id).reboot(),
        "return (await c.run(w.live_run_id).reboot()).id;",
        lambda w: w.live_run_id,
        pick=field_of("id"),
        status=Pending("POST /v2/actor-runs/{runId}/reboot"),
    ),
    row(
        "RunClient",
        "reboot",
        "reboot",
        lambda c, w: c.actor(w.sleeper_id).last_run().reboot(),
        "return (await c.actor(w.sleeper_id).lastRun().reboot()).id;",
        lambda w: w.live_run_id,
        pick=field_of("id"),
        status=Pending("POST /v2/actors/{actorId}/runs/last/reboot"),
        via="actor.last_run()",
    ),
    row(
        "RunClient",
        "update",
        "update",
        lambda c, w: c.run(w.live_run_id).update(status_message="world says hi"),
        "return (await c.run(w.live_run_id).update({ statusMessage: 'world says hi' })).statusMessage;",
        lambda w: "world says hi",
        pick=field_of("status_message"),
    ),
    row(
        "ApifyClient",
        None,
        "setStatusMessage",
        None,
        "process.env.ACTOR_RUN_ID = w.live_run_id; await c.setStatusMessage('set by js');"
        " return (await c.run(w.live_run_id).get()).statusMessage;",
        lambda w: "set by js",
    ),
    row(
        "RunClient",
        "metamorph",
        "metamorph",
        lambda c, w: c.run(w.live_run_id).metamorph(target_actor_id=w.actor_id, run_input={"m": 1}),
        "return (await c.run(w.live_run_id).metamorph(w.actor_id, { m: 1 })).id;",
        lambda w: w.live_run_id,
        pick=field_of("id"),
        status=Pending("POST /v2/actor-runs/{runId}/metamorph"),
    ),
    row(
        "RunClient",
        "metamorph",
        "metamorph",
        lambda c, w: c.actor(w.sleeper_id).last_run().metamorph(target_actor_id=w.actor_id),
        "return (await c.actor(w.sleeper_id).lastRun().metamorph(w.actor_id)).id;",
        lambda w: w.live_run_id,
        pick=field_of("id"),
        status=Pending("POST /v2/actors/{actorId}/runs/last/metamorph"),
        via="actor.last_run()",
    ),
    row(
        "RunClient",
        "get",
        "get",
        lambda c, w: c.run(w.run_id).get(),
        "return (await c.run(w.run_id).get()).actorTaskId;",
        lambda w: w.task_id,
        pick=field_of("actor_task_id"),
    ),
    row(
        "RunClient",
        "wait_for_finish",
        "waitForFinish",
        lambda c, w: c.run(w.run_id).wait_for_finish(wait_duration=timedelta(seconds=10)),
        "return (await c.run(w.run_id).waitForFinish({ waitSecs: 10 })).status;",
        lambda w: "SUCCEEDED",
        pick=field_of("status"),
    ),
    row(
        "RunClient",
        "get_streamed_log",
        "getStreamedLog",
        lambda c, w: c.run(w.run_id).get_streamed_log(to_logger=w.logger()),
        "const lines = []; const streamed = await c.run(w.run_id).getStreamedLog({ toLog: collectingLog(lines) });"
        " streamed.start(); await streamed.stop(); return lines.some((l) => l.includes('echo got'));",
        lambda w: True,
        pick=_logged("echo got"),
    ),
    row(
        "RunClient",
        "get_status_message_watcher",
        None,
        lambda c, w: c.run(w.run_id).get_status_message_watcher(
            to_logger=w.logger(), check_period=timedelta(seconds=0.1)
        ),
        None,
        lambda w: True,
        pick=_logged("echoed"),
    ),
    row(
        "RunClient",
        "iterate_dataset_items",
        None,
        lambda c, w: c.run(w.run_id).iterate_dataset_items(),
        None,
        lambda w: [{"seen": {"a": 1}}],
    ),
    row(
        "RunClient",
        "resurrect",
        "resurrect",
        lambda c, w: c.run(w.old_run_id).resurrect(),
        "return (await c.run(w.old_run_id).resurrect()).id;",
        lambda w: w.old_run_id,
        pick=field_of("id"),
    ),
    row(
        "RunClient",
        "delete",
        "delete",
        lambda c, w: c.run(w.spare_run_id).delete(),
        "await c.run(w.spare_run_id).delete(); return (await c.run(w.spare_run_id).get()) === undefined;",
        lambda w: True,
        pick=lambda r, w: w.read(f"/actor-runs/{w.spare_run_id}") is None,
    ),
    row(
        "RunCollectionClient",
        "list",
        "list",
        lambda c, w: c.runs().list(),
        _js_has("c.runs().list()", "run_id"),
        lambda w: True,
        pick=_has("run_id"),
    ),
    row(
        "RunCollectionClient",
        "iterate",
        None,
        lambda c, w: c.task(w.task_id).runs().iterate(),
        None,
        lambda w: True,
        pick=_has("run_id"),
    ),
]

ACTORS: list[Row] = [
    row(
        "ActorCollectionClient",
        "create",
        "create",
        lambda c, w: c.actors().create(
            name="made",
            versions=[{"versionNumber": "0.0", "sourceType": "SOURCE_FILES", "sourceFiles": SOURCE}],
        ),
        "return (await c.actors().create({ name: 'made', versions: [{ versionNumber: '0.0',"
        " sourceType: 'SOURCE_FILES', sourceFiles: SOURCE }] })).name;",
        lambda w: "made",
        pick=field_of("name"),
    ),
    row(
        "ActorCollectionClient",
        "list",
        "list",
        lambda c, w: c.actors().list(),
        _js_has("c.actors().list()", "actor_id"),
        lambda w: True,
        pick=_has("actor_id"),
    ),
    row(
        "ActorCollectionClient",
        "iterate",
        None,
        lambda c, w: c.actors().iterate(),
        None,
        lambda w: True,
        pick=_has("actor_id"),
    ),
    row(
        "ActorClient",
        "get",
        "get",
        lambda c, w: c.actor(f"{w.username}/echo").get(),
        "return (await c.actor(`${w.username}/echo`).get()).id;",
        lambda w: w.actor_id,
        pick=field_of("id"),
    ),
    row(
        "ActorClient",
        "update",
        "update",
        lambda c, w: c.actor(w.actor_id).update(title="Echo"),
        "return (await c.actor(w.actor_id).update({ title: 'Echo' })).title;",
        lambda w: "Echo",
        pick=field_of("title"),
    ),
    row(
        "ActorClient",
        "start",
        "start",
        lambda c, w: c.actor(w.actor_id).start(run_input={"s": 1}),
        "return (await c.actor(w.actor_id).start({ s: 1 })).actId;",
        lambda w: w.actor_id,
        pick=field_of("act_id"),
    ),
    row(
        "ActorClient",
        "call",
        "call",
        lambda c, w: c.actor(w.actor_id).call(run_input={"x": 1}, logger=None),
        "return (await c.actor(w.actor_id).call({ x: 1 }, { log: null })).status;",
        lambda w: "SUCCEEDED",
        pick=field_of("status"),
    ),
    row(
        "ActorClient",
        "build",
        "build",
        lambda c, w: c.actor(w.actor_id).build(version_number="0.0"),
        "return (await c.actor(w.actor_id).build('0.0')).actId;",
        lambda w: w.actor_id,
        pick=field_of("act_id"),
    ),
    row(
        "ActorClient",
        "default_build",
        "defaultBuild",
        lambda c, w: c.actor(w.actor_id).default_build(),
        "return (await (await c.actor(w.actor_id).defaultBuild()).get()).actId;",
        lambda w: w.actor_id,
        pick=lambda r, w: w.read(f"/actor-builds/{r.resource_id}")["actId"],
    ),
    row(
        "ActorClient",
        "validate_input",
        "validateInput",
        lambda c, w: c.actor(w.actor_id).validate_input({"a": 1}),
        "return await c.actor(w.actor_id).validateInput({ a: 1 });",
        lambda w: True,
        status=Pending("POST /v2/actors/{actorId}/validate-input"),
    ),
    row(
        "ActorClient",
        "delete",
        "delete",
        lambda c, w: c.actor(w.spare_actor_id).delete(),
        "await c.actor(w.spare_actor_id).delete(); return (await c.actor(w.spare_actor_id).get()) === undefined;",
        lambda w: True,
        pick=lambda r, w: w.read(f"/acts/{w.spare_actor_id}") is None,
    ),
    row(
        "ActorVersionCollectionClient",
        "create",
        "create",
        lambda c, w: (
            c.actor(w.actor_id)
            .versions()
            .create(version_number="1.0", source_type="SOURCE_FILES", source_files=SOURCE)
        ),
        "return (await c.actor(w.actor_id).versions().create({ versionNumber: '1.0', sourceType: 'SOURCE_FILES',"
        " sourceFiles: SOURCE })).versionNumber;",
        lambda w: "1.0",
        pick=field_of("version_number"),
    ),
    row(
        "ActorVersionCollectionClient",
        "list",
        "list",
        lambda c, w: c.actor(w.actor_id).versions().list(),
        "return (await c.actor(w.actor_id).versions().list()).items.map((v) => v.versionNumber).includes('0.0');",
        lambda w: True,
        pick=lambda r, w: "0.0" in [v.version_number for v in r.items],
    ),
    row(
        "ActorVersionCollectionClient",
        "iterate",
        None,
        lambda c, w: c.actor(w.actor_id).versions().iterate(),
        None,
        lambda w: True,
        pick=lambda r, w: "0.0" in [v.version_number for v in r],
    ),
    row(
        "ActorVersionClient",
        "get",
        "get",
        lambda c, w: c.actor(w.actor_id).version("0.0").get(),
        "return (await c.actor(w.actor_id).version('0.0').get()).sourceType;",
        lambda w: "PYTHON_CALLABLE",
        pick=field_of("source_type"),
    ),
    row(
        "ActorVersionClient",
        "update",
        "update",
        lambda c, w: c.actor(w.actor_id).version("0.0").update(build_tag="beta"),
        "return (await c.actor(w.actor_id).version('0.0').update({ buildTag: 'beta' })).buildTag;",
        lambda w: "beta",
        pick=field_of("build_tag"),
    ),
    row(
        "ActorVersionClient",
        "delete",
        "delete",
        lambda c, w: c.actor(w.actor_id).version("0.9").delete(),
        "await c.actor(w.actor_id).version('0.9').delete();"
        " return (await c.actor(w.actor_id).version('0.9').get()) === undefined;",
        lambda w: True,
        pick=lambda r, w: w.read(f"/acts/{w.actor_id}/versions/0.9") is None,
    ),
    row(
        "ActorEnvVarCollectionClient",
        "create",
        "create",
        lambda c, w: c.actor(w.actor_id).version("0.0").env_vars().create(name="MADE", value="m"),
        "return (await c.actor(w.actor_id).version('0.0').envVars().create({ name: 'MADE', value: 'm' })).name;",
        lambda w: "MADE",
        pick=field_of("name"),
    ),
    row(
        "ActorEnvVarCollectionClient",
        "list",
        "list",
        lambda c, w: c.actor(w.actor_id).version("0.0").env_vars().list(),
        "return (await c.actor(w.actor_id).version('0.0').envVars().list()).items.map((e) => e.name).includes('KEEP');",
        lambda w: True,
        pick=lambda r, w: "KEEP" in [e.name for e in r.items],
    ),
    row(
        "ActorEnvVarCollectionClient",
        "iterate",
        None,
        lambda c, w: c.actor(w.actor_id).version("0.0").env_vars().iterate(),
        None,
        lambda w: True,
        pick=lambda r, w: "KEEP" in [e.name for e in r],
    ),
    row(
        "ActorEnvVarClient",
        "get",
        "get",
        lambda c, w: c.actor(w.actor_id).version("0.0").env_var("KEEP").get(),
        "return (await c.actor(w.actor_id).version('0.0').envVar('KEEP').get()).value;",
        lambda w: "keep",
        pick=field_of("value"),
    ),
    row(
        "ActorEnvVarClient",
        "update",
        "update",
        lambda c, w: c.actor(w.actor_id).version("0.0").env_var("KEEP").update(name="KEEP", value="kept"),
        "return (await c.actor(w.actor_id).version('0.0').envVar('KEEP').update({ name: 'KEEP', value: 'kept' })).value;",
        lambda w: "kept",
        pick=field_of("value"),
    ),
    row(
        "ActorEnvVarClient",
        "delete",
        "delete",
        lambda c, w: c.actor(w.actor_id).version("0.0").env_var("DROP").delete(),
        "await c.actor(w.actor_id).version('0.0').envVar('DROP').delete();"
        " return (await c.actor(w.actor_id).version('0.0').envVar('DROP').get()) === undefined;",
        lambda w: True,
        pick=lambda r, w: w.read(f"/acts/{w.actor_id}/versions/0.0/env-vars/DROP") is None,
    ),
]

BUILDS: list[Row] = [
    row(
        "BuildCollectionClient",
        "list",
        "list",
        lambda c, w: c.actor(w.actor_id).builds().list(),
        _js_has("c.actor(w.actor_id).builds().list()", "build_id"),
        lambda w: True,
        pick=_has("build_id"),
    ),
    row(
        "BuildCollectionClient",
        "iterate",
        None,
        lambda c, w: c.builds().iterate(),
        None,
        lambda w: True,
        pick=_has("build_id"),
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
        status=Pending("GET /v2/actor-builds/{buildId}/openapi.json"),
    ),
    row(
        "BuildClient",
        "delete",
        "delete",
        lambda c, w: c.build(w.spare_build_id).delete(),
        "await c.build(w.spare_build_id).delete(); return (await c.build(w.spare_build_id).get()) === undefined;",
        lambda w: True,
        pick=lambda r, w: w.read(f"/actor-builds/{w.spare_build_id}") is None,
        status=Pending("DELETE /v2/actor-builds/{buildId}"),
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
        _js_has("c.tasks().list()", "task_id"),
        lambda w: True,
        pick=_has("task_id"),
    ),
    row(
        "TaskCollectionClient",
        "iterate",
        None,
        lambda c, w: c.tasks().iterate(),
        None,
        lambda w: True,
        pick=_has("task_id"),
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
        status=Pending("GET /v2/users/me/usage/monthly"),
    ),
    absent("UserClient", "limits", "limits", "account limits: the hardening issue (GET /v2/users/me/limits)"),
    absent(
        "UserClient",
        "update_limits",
        "updateLimits",
        "account limits: the hardening issue (PUT /v2/users/me/limits)",
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
