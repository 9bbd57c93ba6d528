"""What is true at the end of a soak (bench/soak.py): every run terminal, and none in a wrong state."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from bench.soak_state import Soak
from server.storage.models import DatasetItem, KeyValueRecord, Run

DEAD = "The worker running this Actor run stopped"


def settle_runs(soak: Soak, timeout_s: float) -> None:
    """Until no run is READY or RUNNING (the sweepers end what the faults left)."""
    deadline = time.monotonic() + timeout_s
    query = select(Run.id).where(Run.act_id == soak.act_id, Run.status.in_(["READY", "RUNNING"]))
    while time.monotonic() < deadline:
        with soak.db.begin() as connection:
            if connection.execute(query.limit(1)).first() is None:
                return
        time.sleep(0.5)


def wrong_states(soak: Soak) -> dict[str, list[str]]:
    wrong: dict[str, list[str]] = {}
    with soak.db.begin() as connection:
        runs = connection.execute(
            select(
                Run.id,
                Run.status,
                Run.status_message,
                Run.stats,
                Run.default_key_value_store_id,
                Run.default_dataset_id,
            ).where(Run.act_id == soak.act_id)
        ).all()
        records = {
            (store, key): value
            for store, key, value in connection.execute(
                select(KeyValueRecord.store_id, KeyValueRecord.key, KeyValueRecord.value).where(
                    KeyValueRecord.store_id.in_([r.default_key_value_store_id for r in runs]),
                    KeyValueRecord.key.in_(["INPUT", "OUTPUT"]),
                )
            )
        }
        # One item per execution: {"pid": the actor's, "worker": its worker's}.
        executions: dict[str, list[dict[str, int]]] = {}
        for dataset_id, data in connection.execute(
            select(DatasetItem.dataset_id, DatasetItem.data).where(
                DatasetItem.dataset_id.in_([r.default_dataset_id for r in runs])
            )
        ):
            executions.setdefault(dataset_id, []).append(json.loads(data))
    by_n: dict[int, Any] = {}
    for run in runs:
        n = json.loads(records[(run.default_key_value_store_id, "INPUT")])["n"]
        by_n[n] = run
        output = records.get((run.default_key_value_store_id, "OUTPUT"))
        if run.status == "SUCCEEDED" and (output is None or json.loads(output) != {"n": n}):
            wrong.setdefault("SUCCEEDED without its OUTPUT", []).append(run.id)
        elif run.status == "FAILED" and DEAD in (run.status_message or ""):
            if not any(
                e["worker"] in soak.killed_workers for e in executions.get(run.default_dataset_id, [])
            ):
                wrong.setdefault("FAILED as a dead worker's, but its worker lived", []).append(run.id)
        elif run.status != "SUCCEEDED":
            wrong.setdefault(f"{run.status}: {run.status_message}", []).append(run.id)
        restarts = int((run.stats or {}).get("restartCount", 0))
        if len(executions.get(run.default_dataset_id, [])) > 1 + restarts:
            wrong.setdefault("executed more than once", []).append(run.id)
    for answer in soak.answers:
        run = by_n.get(answer.n)
        if answer.status == 201 and (
            run is None or run.status != "SUCCEEDED" or answer.body != {"n": answer.n}
        ):
            wrong.setdefault("201 that disagrees with its run", []).append(str(answer.n))
        if answer.status == 400 and run is not None and run.status == "SUCCEEDED":
            wrong.setdefault("400 for a SUCCEEDED run", []).append(run.id)
    return wrong
