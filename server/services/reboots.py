"""Reboot and metamorph a RUNNING run: the actor is started again in the same run, by its worker.

Both are a new "generation" of the run, committed in SQL: a reboot bumps `runs.reboot_count`, a
metamorph appends to `runs.metamorphs` (and sets `runs.input_key`). The worker supervising the run
watches reboot_count + len(metamorphs) (worker/control.py): when it grows, it stops the actor's
processes and starts the actor again (the metamorph's target, if the last generation is one) with the
same run id, storages, token and whole-run timeout. The status stays RUNNING and nothing is published
on run-finished, so waiters (run-sync, waitForFinish) wake only at the run's true end.

As on Apify, the run keeps its actId, buildId and buildNumber after a metamorph (it still belongs to
the original actor: the target actor gets no run); `metamorphs` records the target actor and build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import ApiError
from server.events import publish_reboot
from server.lifespan import AppState
from server.services.build_versions import resolve_build
from server.services.input_schemas import checked_body
from server.statuses import RunStatus
from server.storage.ids import iso, utcnow
from server.storage.key_value_stores import upsert_record
from server.storage.models import Actor, Run
from server.storage.runs import RUNS

# Apify limits how many times one run may be metamorphed (its "Actor runtime limits"); the figure is
# not in its spec, and this one is Greenroom's.
MAX_METAMORPHS = 10
INPUT_KEY_PREFIX = "INPUT-METAMORPH-"


@dataclass(frozen=True)
class MetamorphInput:
    """The target's input: the request body verbatim and its Content-Type (None: no input)."""

    body: bytes
    content_type: str


def not_running(run_id: str, status: str, what: str) -> ApiError:
    return ApiError(
        f"Only a running Actor run can be {what} (run ID: {run_id}, status: {status})",
        status_code=400,
        error_type="invalid-request",  # as resurrect's refusal: Apify's ErrorType has no narrower one
    )


async def _lock_running(session: AsyncSession, run_id: str) -> list[dict[str, Any]] | None:
    """Take the run's row for this transaction (a no-op UPDATE, as lock_actor does) and read its
    metamorphs; None if it is not RUNNING. Two metamorphs of one run then never lose one another."""
    moved = await session.execute(
        update(RUNS)
        .where(RUNS.c.id == run_id, RUNS.c.status == RunStatus.RUNNING.value)
        .values(reboot_count=RUNS.c.reboot_count)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    metamorphs = (await session.execute(select(RUNS.c.metamorphs).where(RUNS.c.id == run_id))).scalar_one()
    return list(metamorphs or [])


async def reboot_run(state: AppState, run: Run) -> None:
    """RUNNING: reboot_count + 1, committed, then the supervising worker is woken. Else 400."""
    async with state.db.transaction() as session:
        moved = await session.execute(
            update(RUNS)
            .where(RUNS.c.id == run.id, RUNS.c.status == RunStatus.RUNNING.value)
            .values(reboot_count=RUNS.c.reboot_count + 1)
        )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise not_running(run.id, run.status, "rebooted")
    await anyio.to_thread.run_sync(publish_reboot, state.redis, state.settings.redis_prefix, run.id)


async def metamorph_run(
    state: AppState, run: Run, target: Actor, build: str | None, run_input: MetamorphInput | None
) -> None:
    """RUNNING: the target's build resolved, the input stored under INPUT-METAMORPH-<n>, the metamorph
    appended and the run's input key set, in one transaction; then the worker is woken. Else 400."""
    tag_or_number = build or target.default_run_options.get("build") or "latest"
    async with state.db.transaction() as session:
        # 404 before anything is written.
        resolved = await session.run_sync(resolve_build, target, tag_or_number)
        # The target's input against the target's schema (defaults filled in), before any write.
        checked = await session.run_sync(
            checked_body,
            resolved,
            run_input.body if run_input else None,
            run_input.content_type if run_input else "",
        )
        run_input = MetamorphInput(*checked) if checked is not None else None
        metamorphs = await _lock_running(session, run.id)
        if metamorphs is None:
            raise not_running(run.id, run.status, "metamorphed")
        if len(metamorphs) >= MAX_METAMORPHS:
            raise ApiError(
                f"The Actor run was metamorphed the maximum number of times ({MAX_METAMORPHS})",
                status_code=400,
                error_type="max-metamorphs-exceeded",
            )
        input_key = f"{INPUT_KEY_PREFIX}{len(metamorphs) + 1}"
        if run_input is not None:
            await session.run_sync(
                upsert_record,
                state.db.dialect,
                run.default_key_value_store_id,
                input_key,
                run_input.body,
                run_input.content_type,
                None,
            )
        metamorphs.append(
            {
                "createdAt": iso(utcnow()),
                "actorId": target.id,
                "buildId": resolved.id,
                "inputKey": input_key,
            }
        )
        await session.execute(
            update(RUNS).where(RUNS.c.id == run.id).values(metamorphs=metamorphs, input_key=input_key)
        )
    await anyio.to_thread.run_sync(publish_reboot, state.redis, state.settings.redis_prefix, run.id)
