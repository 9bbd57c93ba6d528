"""Rows: runs, first (two sleepers hold the workers until these rows abort them or the world stops
them). Rows run in the order listed; a destructive call comes after the calls that read what it
destroys, and works on a spare resource."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.clients.rows import Row, field_of, has, js_has, logged, row
from tests.clients.world import World


def charged(result: Any, world: World) -> Any:
    """pick: how many world-events the live run has been charged (charge answers nothing)."""
    return world.read(f"/actor-runs/{world.live_run_id}")["chargedEventCounts"]["world-event"]


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
        "await c.run(w.live_run_id).charge({ eventName: 'world-event', count: 2 });"
        " return (await c.run(w.live_run_id).get()).chargedEventCounts['world-event'];",
        lambda w: 2,
        pick=charged,
    ),
    row(
        "RunClient",
        "charge",
        "charge",
        lambda c, w: c.actor(w.sleeper_id).last_run().charge("world-event"),
        "await c.actor(w.sleeper_id).lastRun().charge({ eventName: 'world-event' });"
        " return (await c.run(w.live_run_id).get()).chargedEventCounts['world-event'];",
        lambda w: 3,
        pick=charged,
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
    ),
    row(
        "RunClient",
        "reboot",
        "reboot",
        lambda c, w: c.actor(w.sleeper_id).last_run().reboot(),
        "return (await c.actor(w.sleeper_id).lastRun().reboot()).id;",
        lambda w: w.live_run_id,
        pick=field_of("id"),
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
        # Into another sleeper, so that the run is still running for the next row (into the echo
        # actor, it ended before that row's call once, on a loaded machine).
        lambda c, w: c.run(w.live_run_id).metamorph(target_actor_id=w.sleeper_id, run_input={"seconds": 30}),
        "return (await c.run(w.live_run_id).metamorph(w.sleeper_id, { seconds: 30 })).id;",
        lambda w: w.live_run_id,
        pick=field_of("id"),
    ),
    row(
        "RunClient",
        "metamorph",
        "metamorph",
        lambda c, w: c.actor(w.sleeper_id).last_run().metamorph(target_actor_id=w.actor_id),
        "return (await c.actor(w.sleeper_id).lastRun().metamorph(w.actor_id)).id;",
        lambda w: w.live_run_id,
        pick=field_of("id"),
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
        "const lines = []; const streamed = await c.run(w.run_id).getStreamedLog({ toLog:"
        " collectingLog(lines) });"
        " streamed.start(); await streamed.stop(); return lines.some((l) => l.includes('echo got'));",
        lambda w: True,
        pick=logged("echo got"),
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
        pick=logged("echoed"),
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
        js_has("c.runs().list()", "run_id"),
        lambda w: True,
        pick=has("run_id"),
    ),
    row(
        "RunCollectionClient",
        "iterate",
        None,
        lambda c, w: c.task(w.task_id).runs().iterate(),
        None,
        lambda w: True,
        pick=has("run_id"),
    ),
]
