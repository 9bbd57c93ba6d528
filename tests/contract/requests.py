"""Valid requests for each covered operation, and checks of Greenroom's answers against the spec."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator, FormatChecker

from server.users import create_token, create_user, user_exists
from tests.actors import callable_actor, files_actor
from tests.contract.conftest import World, contract_schedule, contract_webhook
from tests.contract.spec import GREENROOM_ONLY_ERROR_TYPES, Operation, error_types


@dataclass
class Call:
    """One request: path parameters by Greenroom's names, and what a valid request must answer."""

    path_params: dict[str, str]
    query: dict[str, Any] = field(default_factory=dict)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def with_json(path_params: dict[str, str], value: Any, **kw: Any) -> Call:
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return Call(path_params, body=json.dumps(value).encode(), headers=headers, **kw)


def path_values(op: Operation, world: World) -> dict[str, str]:
    """Greenroom's path parameters from the world, by the spec's name (then Greenroom's) at each place."""
    out = {}
    for mine, theirs in zip(op.params, op.spec_params, strict=True):
        value = world.ids.get(theirs) or world.ids.get(mine)
        if theirs == "recordKey" and "/key-value-store/" in op.spec_path:
            value = "OUTPUT"  # a run's default store: the record every world run wrote
        if value is None:
            raise LookupError(f"no fixture value for path parameter {{{theirs}}}")
        out[mine] = value
    return out


def url(op: Operation, path_params: dict[str, str]) -> str:
    path = op.path
    for name, value in path_params.items():
        path = path.replace(f"{{{name}}}", value)
    return path


def _fresh_task(world: World) -> str:
    r = world.client.post(
        "/v2/actor-tasks",
        json={"actId": world.ids["actorId"], "name": world.unique("doomed"), "input": {}},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


def _fresh_webhook(world: World) -> str:
    r = world.client.post("/v2/webhooks", json=contract_webhook(world))
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


def _fresh_schedule(world: World) -> str:
    r = world.client.post("/v2/schedules", json=contract_schedule(world))
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


def _running_run(world: World) -> str:
    r = world.client.post(f"/v2/acts/{world.ids['sleeperId']}/runs", json={"seconds": 30})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


def _started_run(world: World, path: str, seconds: float) -> str:
    """A new sleeper run (of the actor or task at `path`), once it is RUNNING (what reboot and
    metamorph need); it ends `seconds` after each (re)start."""
    r = world.client.post(f"{path}/runs", json={"seconds": seconds})
    assert r.status_code == 201, r.text
    run_id = str(r.json()["data"]["id"])
    deadline = time.monotonic() + 30
    while world.client.get(f"/v2/actor-runs/{run_id}").json()["data"]["status"] != "RUNNING":
        assert time.monotonic() < deadline, f"run {run_id} did not start"
        time.sleep(0.05)
    return run_id


def _sleeper_task(world: World) -> str:
    r = world.client.post(
        "/v2/actor-tasks",
        json={"actId": world.ids["sleeperId"], "name": world.unique("sleeper"), "input": {}},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


def _reboot_rule(op: Operation) -> Builder | None:
    """Reboot and metamorph need a RUNNING run: a sleeper's (by id, or the last of the sleeper or of a
    task of it), rebooted into 2 s more, or metamorphed into the echo actor with an input."""
    kind = op.spec_path.rsplit("/", 1)[-1]
    if op.method != "POST" or kind not in ("reboot", "metamorph"):
        return None

    def build(op: Operation, w: World) -> Call:
        if "{actorTaskId}" in op.spec_path:
            params = {"actorTaskId": _sleeper_task(w)}
            _started_run(w, f"/v2/actor-tasks/{params['actorTaskId']}", 2)
        else:
            params = {"actorId": w.ids["sleeperId"]} if "{actorId}" in op.spec_path else {}
            run_id = _started_run(w, f"/v2/acts/{w.ids['sleeperId']}", 2)
            if "{runId}" in op.spec_path:
                params["runId"] = run_id
        if kind == "reboot":
            return Call(params)
        return Call.with_json(params, {"n": 1}, query={"targetActorId": w.ids["echoId"]})

    return build


def _second_version(op: Operation, w: World) -> Call:
    params = path_values(op, w)
    body = {"versionNumber": "0.9", "sourceType": "SOURCE_FILES", "sourceFiles": []}
    r = w.client.post(f"/v2/acts/{params['actorId']}/versions", json=body)
    assert r.status_code == 201, r.text
    return Call(params | {op.params[1]: "0.9"})


def _superseded_build(op: Operation, w: World) -> Call:
    """The world's build once a newer build of its version has taken the `latest` tag from it."""
    r = w.client.post(f"/v2/acts/{w.ids['actorId']}/builds", params={"version": "0.0", "waitForFinish": 60})
    assert r.status_code == 201 and r.json()["data"]["status"] == "SUCCEEDED", r.text
    return Call({"buildId": w.ids["buildId"]})


def _pay_per_event_charge(op: Operation, w: World) -> Call:
    """A charge of the spec's example event on a going run of a pay-per-event actor."""
    event = {"eventTitle": "Analyze", "eventDescription": "A page analyzed", "eventPriceUsd": 0.01}
    pricing = {
        "pricingModel": "PAY_PER_EVENT",
        "pricingPerEvent": {"actorChargeEvents": {"ANALYZE_PAGE": event}},
    }
    actor = w.client.post(
        "/v2/acts", json={**callable_actor(w.unique("ppe"), "sleep"), "pricingInfos": [pricing]}
    )
    assert actor.status_code == 201, actor.text
    run = w.client.post(f"/v2/acts/{actor.json()['data']['id']}/runs", json={"seconds": 5})
    assert run.status_code == 201, run.text
    return Call.with_json(
        {"runId": run.json()["data"]["id"]},
        {"eventName": "ANALYZE_PAGE", "count": 1},
        headers={"idempotency-key": w.unique("charge")},
    )


Builder = Callable[[Operation, World], Call]
_NEW_VERSIONS = itertools.count(1)

# A valid request per (method, spec path); an operation missing here gets its path parameters
# from the world and no query or body (enough for reads; a new write operation should add one).
VALID: dict[tuple[str, str], Builder] = {
    # What Apify's clients create: a SOURCE_FILES actor (PYTHON_CALLABLE is Greenroom's own kind).
    ("POST", "/v2/actors"): lambda op, w: Call.with_json(
        {}, files_actor(w.unique("made"), {"main.py": "print('hi')"})
    ),
    ("POST", "/v2/actors/{actorId}/runs"): lambda op, w: Call.with_json(
        path_values(op, w), {"b": 2}, query={"waitForFinish": 30}
    ),
    ("POST", "/v2/actors/{actorId}/run-sync"): lambda op, w: Call.with_json(path_values(op, w), {"b": 2}),
    ("POST", "/v2/actors/{actorId}/builds"): lambda op, w: Call(
        path_values(op, w), query={"version": "0.0", "waitForFinish": 30}
    ),
    ("PUT", "/v2/actors/{actorId}"): lambda op, w: Call.with_json(path_values(op, w), {"isPublic": False}),
    ("POST", "/v2/actors/{actorId}/versions"): lambda op, w: Call.with_json(
        path_values(op, w),
        {
            "versionNumber": f"1.{next(_NEW_VERSIONS)}",  # never one the world has
            "sourceType": "SOURCE_FILES",
            "sourceFiles": [{"name": "main.py", "format": "TEXT", "content": "pass"}],
        },
    ),
    ("PUT", "/v2/actors/{actorId}/versions/{versionNumber}"): lambda op, w: Call.with_json(
        path_values(op, w), {"buildTag": "latest"}
    ),
    ("POST", "/v2/actors/{actorId}/versions/{versionNumber}"): lambda op, w: Call.with_json(
        path_values(op, w), {"buildTag": "latest"}
    ),
    ("POST", "/v2/actors/{actorId}/versions/{versionNumber}/env-vars/{envVarName}"): lambda op, w: (
        Call.with_json(path_values(op, w), {"name": "CONTRACT_VAR", "value": "z"})
    ),
    ("DELETE", "/v2/actors/{actorId}/versions/{versionNumber}"): _second_version,
    ("POST", "/v2/actors/{actorId}/versions/{versionNumber}/env-vars"): lambda op, w: Call.with_json(
        path_values(op, w), {"name": w.unique("VAR").replace("-", "_").upper(), "value": "v"}
    ),
    ("PUT", "/v2/actors/{actorId}/versions/{versionNumber}/env-vars/{envVarName}"): lambda op, w: (
        Call.with_json(path_values(op, w), {"name": "CONTRACT_VAR", "value": "y"})
    ),
    ("POST", "/v2/actor-tasks"): lambda op, w: Call.with_json(
        {}, {"actId": w.ids["actorId"], "name": w.unique("task"), "input": {"z": 1}}
    ),
    ("PUT", "/v2/actor-tasks/{actorTaskId}"): lambda op, w: Call.with_json(
        path_values(op, w), {"title": "Contract task"}
    ),
    ("DELETE", "/v2/actor-tasks/{actorTaskId}"): lambda op, w: Call({"actorTaskId": _fresh_task(w)}),
    ("PUT", "/v2/actor-tasks/{actorTaskId}/input"): lambda op, w: Call.with_json(
        path_values(op, w), {"a": 1, "c": 3}
    ),
    ("POST", "/v2/actor-tasks/{actorTaskId}/runs"): lambda op, w: Call.with_json(
        path_values(op, w), {"b": 2}, query={"waitForFinish": 30}
    ),
    ("POST", "/v2/actor-tasks/{actorTaskId}/run-sync"): lambda op, w: Call.with_json(
        path_values(op, w), {"b": 2}
    ),
    ("PUT", "/v2/actor-runs/{runId}"): lambda op, w: Call.with_json(
        path_values(op, w), {"runId": w.ids["runId"], "statusMessage": "checked"}
    ),
    ("POST", "/v2/actor-runs/{runId}/abort"): lambda op, w: Call({"runId": _running_run(w)}),
    ("POST", "/v2/actor-runs/{runId}/resurrect"): lambda op, w: Call({"runId": w.finished_run()["id"]}),
    # Apify's deprecated spellings of a run under its actor: the run must be that actor's.
    ("GET", "/v2/actors/{actorId}/runs/{runId}"): lambda op, w: Call(
        {"actorId": w.ids["echoId"], "runId": w.ids["runId"]}
    ),
    ("POST", "/v2/actors/{actorId}/runs/{runId}/abort"): lambda op, w: Call(
        {"actorId": w.ids["sleeperId"], "runId": _running_run(w)}
    ),
    ("POST", "/v2/actors/{actorId}/runs/{runId}/resurrect"): lambda op, w: Call(
        {"actorId": w.ids["echoId"], "runId": w.finished_run()["id"]}
    ),
    ("DELETE", "/v2/actor-builds/{buildId}"): _superseded_build,
    ("POST", "/v2/actor-runs/{runId}/charge"): _pay_per_event_charge,
    ("POST", "/v2/key-value-stores"): lambda op, w: Call({}, query={"name": w.unique("store")}),
    ("POST", "/v2/request-queues"): lambda op, w: Call({}, query={"name": w.unique("queue")}),
    ("PUT", "/v2/key-value-stores/{storeId}/records/{recordKey}"): lambda op, w: Call.with_json(
        path_values(op, w), {"v": 2}
    ),
    ("POST", "/v2/key-value-stores/{storeId}/records/{recordKey}"): lambda op, w: Call.with_json(
        path_values(op, w), {"v": 3}
    ),
    ("POST", "/v2/datasets/{datasetId}/items"): lambda op, w: Call.with_json(path_values(op, w), [{"i": 3}]),
    ("POST", "/v2/webhooks"): lambda op, w: Call.with_json({}, contract_webhook(w)),
    ("PUT", "/v2/webhooks/{webhookId}"): lambda op, w: Call.with_json(
        path_values(op, w), {"description": "checked", "doNotRetry": True}
    ),
    ("DELETE", "/v2/webhooks/{webhookId}"): lambda op, w: Call({"webhookId": _fresh_webhook(w)}),
    ("POST", "/v2/schedules"): lambda op, w: Call.with_json({}, contract_schedule(w)),
    ("PUT", "/v2/schedules/{scheduleId}"): lambda op, w: Call.with_json(
        path_values(op, w), {"title": "checked"}
    ),
    ("DELETE", "/v2/schedules/{scheduleId}"): lambda op, w: Call({"scheduleId": _fresh_schedule(w)}),
    ("POST", "/v2/tools/encode-and-sign"): lambda op, w: Call.with_json({}, {"key": "value", "n": [1]}),
    ("POST", "/v2/tools/decode-and-verify"): lambda op, w: Call.with_json({}, {"encoded": _encoded(w)}),
    ("POST", "/v2/browser-info"): lambda op, w: Call.with_json({}, {"echo": True}),
    ("PUT", "/v2/browser-info"): lambda op, w: Call.with_json({}, {"echo": True}),
    # Limits are changed by admins (GREENROOM_ADMIN_USERNAMES; the suite's: "admin"), for any user.
    ("PUT", "/v2/users/me/limits"): lambda op, w: Call.with_json(
        {},
        {"maxReadyActorJobs": 1000},
        query={"user": w.user_id},
        headers={"Authorization": f"Bearer {_admin_token(w)}"},
    ),
}


def _encoded(w: World) -> str:
    r = w.client.post("/v2/tools/encode-and-sign", json={"a": 1})
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["encoded"])


def _queue_base(op: Operation, params: dict[str, str]) -> str:
    """The queue's own URL (/v2/request-queues/{id} or a run's .../request-queue)."""
    path = url(op, params)
    marker = "/request-queues/" if "/request-queues/" in path else "/request-queue"
    head, _, rest = path.partition(marker)
    return head + marker + (rest.split("/", 1)[0] if marker == "/request-queues/" else "")


def _fresh_request(op: Operation, w: World, *, locked: bool = False) -> Call:
    """A new request at the queue's forefront (locked to clientKey=contract for the lock routes)."""
    params = {
        m: w.ids.get(t) or w.ids[m]
        for m, t in zip(op.params, op.spec_params, strict=True)
        if t != "requestId"
    }
    base = _queue_base(op, params | {op.params[-1]: "x"})
    r = w.client.post(
        f"{base}/requests", params={"forefront": "true"}, json={"url": f"https://x/{w.unique('r')}"}
    )
    assert r.status_code == 201, r.text
    request_id = str(r.json()["data"]["requestId"])
    params[op.params[-1]] = request_id
    if locked:
        r = w.client.post(f"{base}/head/lock", params={"lockSecs": 60, "limit": 1, "clientKey": "contract"})
        assert [i["id"] for i in r.json()["data"]["items"]] == [request_id], r.text
        return Call(params, query={"clientKey": "contract", "lockSecs": 60})
    if op.method == "PUT":  # marks it handled
        got = w.client.get(f"{base}/requests/{request_id}").json()["data"]
        body = {"url": got["url"], "uniqueKey": got["uniqueKey"], "handledAt": "2026-01-01T00:00:00.000Z"}
        return Call.with_json(params, body)
    return Call(params)


def _queue_rule(op: Operation) -> Builder | None:
    """Requests for a queue's routes, by the shape of the path (ids, run defaults, last runs)."""
    path = op.spec_path
    if "/request-queue" not in path:
        return None
    if path.endswith("/requests/{requestId}"):
        return _fresh_request
    if path.endswith("/lock") and "{requestId}" in path:
        return lambda op, w: _fresh_request(op, w, locked=True)
    if path.endswith("/requests/batch") and op.method == "POST":
        return lambda op, w: Call.with_json(
            path_values(op, w), [{"url": f"https://x/{w.unique('b')}"}, {"url": "https://x/same"}]
        )
    if path.endswith("/requests/batch"):
        return lambda op, w: Call.with_json(path_values(op, w), [{"uniqueKey": "https://x/same"}])
    if path.endswith("/requests") and op.method == "POST":
        return lambda op, w: Call.with_json(path_values(op, w), {"url": f"https://x/{w.unique('a')}"})
    if path.endswith("/head/lock"):
        return lambda op, w: Call(path_values(op, w), query={"lockSecs": 30, "limit": 2, "clientKey": "c2"})
    if path.endswith("/requests/unlock"):
        return lambda op, w: Call(path_values(op, w), query={"clientKey": "c2"})
    if op.method == "PUT":
        return lambda op, w: Call.with_json(path_values(op, w), {"name": w.unique("queue")})
    return None


def _rule(op: Operation) -> Builder | None:
    """Requests by the shape of the path, for the many aliases of records and items."""
    queue = _queue_rule(op) or _reboot_rule(op)
    if queue is not None:
        return queue
    tail = op.spec_path.rsplit("/", 2)
    if tail[-2:] == ["records", "{recordKey}"]:
        if op.method in ("PUT", "POST"):
            return lambda op, w: Call.with_json(path_values(op, w), {"v": 5})
        if op.method == "DELETE":
            return _delete_fresh_record
    if op.method == "POST" and tail[-1] == "items":
        return lambda op, w: Call.with_json(path_values(op, w), [{"i": 4}])
    if op.method == "POST" and tail[-1] in ("run-sync", "run-sync-get-dataset-items"):
        return lambda op, w: Call.with_json(path_values(op, w), {"b": 2})
    if op.method == "DELETE" and tail[-2] == "env-vars":
        return _delete_fresh_env_var
    return None


def _delete_fresh_record(op: Operation, w: World) -> Call:
    params = path_values(op, w) | {op.params[-1]: w.unique("doomed")}
    r = w.client.put(url(op, params), json={"x": 1})
    assert r.status_code == 201, r.text
    return Call(params)


def _delete_fresh_env_var(op: Operation, w: World) -> Call:
    params = path_values(op, w)
    name = w.unique("DOOMED").replace("-", "_").upper()
    r = w.client.post(url(op, params).rsplit("/", 1)[0], json={"name": name, "value": "v"})
    assert r.status_code == 201, r.text
    return Call(params | {op.params[-1]: name})


def _admin_token(w: World) -> str:
    """A new token of the user named "admin" (made the first time)."""
    if not user_exists(w.db, "admin"):
        create_user(w.db, "admin")
    return create_token(w.db, "admin")


def has_builder(op: Operation) -> bool:
    return (op.method, op.spec_path) in VALID or _rule(op) is not None


def valid_call(op: Operation, world: World) -> Call:
    """The request from VALID, else the path parameters and the spec's own JSON body example."""
    builder = VALID.get((op.method, op.spec_path)) or _rule(op)
    if builder:
        return builder(op, world)
    example = _body_example(op)
    if example is None:
        return Call(path_values(op, world))
    return Call.with_json(path_values(op, world), example)


def _body_example(op: Operation) -> Any:
    media = ((op.spec.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
    if "example" in media:
        return media["example"]
    schema = media.get("schema") or {}
    for part in [schema, *schema.get("allOf", [])]:
        if "example" in part:
            return part["example"]
        if part.get("examples"):
            return part["examples"][0]
    return None


def send(world: World, op: Operation, call: Call) -> httpx.Response:
    return world.client.request(
        op.method, url(op, call.path_params), params=call.query, content=call.body, headers=call.headers
    )


def success_statuses(op: Operation) -> set[int]:
    """The documented 2xx statuses of the operation."""
    codes = {int(c) for c in op.spec["responses"] if str(c).startswith("2")}
    assert codes, f"{op.id}: the spec documents no 2xx"
    return codes


# Errors in Apify's spec, corrected here (and reported): (method, spec path, status) -> JSON schema.
_ITEMS = {"type": "array", "items": {"type": "object"}}
SPEC_ERRATA: dict[tuple[str, str, str], dict[str, Any]] = {
    # The task variants say `type: object`; the actor variants, Apify's docs and both clients: an array.
    ("GET", "/v2/actor-tasks/{actorTaskId}/run-sync-get-dataset-items", "201"): _ITEMS,
    ("POST", "/v2/actor-tasks/{actorTaskId}/run-sync-get-dataset-items", "201"): _ITEMS,
}


def violations(op: Operation, response: httpx.Response) -> list[str]:
    """Everything about the response the spec does not allow (an empty list: it conforms)."""
    documented = op.spec["responses"].get(str(response.status_code))
    erratum = SPEC_ERRATA.get((op.method, op.spec_path, str(response.status_code)))
    if documented is not None and erratum is not None:
        documented = {**documented, "content": {"application/json": {"schema": erratum}}}
    if documented is None:
        return [f"status {response.status_code} is not documented: {response.text[:300]}"]
    problems = []
    for name, header in (documented.get("headers") or {}).items():
        if header.get("required") and name.lower() not in response.headers:
            problems.append(f"missing required header {name}")
    content = documented.get("content") or {}
    if op.method == "HEAD" or not content or not response.content:
        return problems
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if media in content:
        schema = content[media].get("schema")
    elif "*/*" in content:
        schema = content["*/*"].get("schema")
    else:
        return [*problems, f"content type {media!r} is not documented (documented: {sorted(content)})"]
    if not schema:
        return problems
    if media == "application/json" or media.endswith("+json"):
        body: Any = response.json()
    else:
        body = response.text
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        problems.append(f"{where}: {error.message[:300]}")
    return problems


def error_violations(op: Operation, response: httpx.Response) -> list[str]:
    """What is wrong with an error answer: a type Apify never answers, or a body outside the schema
    the spec documents for that status (statuses it does not document are not judged here)."""
    body = response.json()
    kind = (body.get("error") or {}).get("type") if isinstance(body, dict) else None
    problems = []
    if kind not in error_types() and kind not in GREENROOM_ONLY_ERROR_TYPES:
        problems.append(f"error type {kind!r} is not one of Apify's (ErrorType.yaml)")
    documented = op.spec["responses"].get(str(response.status_code)) or {}
    schema = ((documented.get("content") or {}).get("application/json") or {}).get("schema")
    if schema:
        validator = Draft202012Validator(schema, format_checker=FormatChecker())
        problems += [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(body)
        ]
    return problems
