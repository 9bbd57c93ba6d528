"""The run a run-sync answer names (X-Apify-Run-Id and Location), read back from its Location."""

from __future__ import annotations

import httpx


def named_run(api: httpx.Client, response: httpx.Response) -> dict:
    """The run a run-sync answer names: X-Apify-Run-Id, and Location (its URL) read back."""
    run_id = response.headers["x-apify-run-id"]
    location = response.headers["location"]
    assert location.endswith(f"/v2/actor-runs/{run_id}"), location
    run = httpx.get(location, headers=api.headers, params={"waitForFinish": 30}, timeout=60)
    assert run.status_code == 200, run.text
    assert run.json()["data"]["id"] == run_id
    return run.json()["data"]
