"""Rows: actors, their versions and env vars."""

from __future__ import annotations

from tests.clients.rows import SOURCE, Row, field_of, has, js_has, row

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
        js_has("c.actors().list()", "actor_id"),
        lambda w: True,
        pick=has("actor_id"),
    ),
    row(
        "ActorCollectionClient",
        "iterate",
        None,
        lambda c, w: c.actors().iterate(),
        None,
        lambda w: True,
        pick=has("actor_id"),
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
    ),
    row(
        "ActorClient",
        "delete",
        "delete",
        lambda c, w: c.actor(w.spare_actor_id).delete(),
        "await c.actor(w.spare_actor_id).delete(); return (await c.actor(w.spare_actor_id).get()) ==="
        " undefined;",
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
        "return (await c.actor(w.actor_id).versions().create({ versionNumber: '1.0', sourceType:"
        " 'SOURCE_FILES',"
        " sourceFiles: SOURCE })).versionNumber;",
        lambda w: "1.0",
        pick=field_of("version_number"),
    ),
    row(
        "ActorVersionCollectionClient",
        "list",
        "list",
        lambda c, w: c.actor(w.actor_id).versions().list(),
        "return (await c.actor(w.actor_id).versions().list()).items.map((v) =>"
        " v.versionNumber).includes('0.0');",
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
        "return (await c.actor(w.actor_id).version('0.0').envVars().create({ name: 'MADE', value: 'm'"
        " })).name;",
        lambda w: "MADE",
        pick=field_of("name"),
    ),
    row(
        "ActorEnvVarCollectionClient",
        "list",
        "list",
        lambda c, w: c.actor(w.actor_id).version("0.0").env_vars().list(),
        "return (await c.actor(w.actor_id).version('0.0').envVars().list()).items.map((e) =>"
        " e.name).includes('KEEP');",
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
        "return (await c.actor(w.actor_id).version('0.0').envVar('KEEP').update({ name: 'KEEP', value:"
        " 'kept' })).value;",
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
