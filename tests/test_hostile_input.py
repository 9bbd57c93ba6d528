"""Hostile input (issue 14): numbers past every bound, JSON that breaks parsers or storage, bodies
that inflate or hold a million items. Each is a 4xx in Apify's envelope, never a 500, and writes
nothing (the Batch of tests/test_bad_input.py checks both)."""

from __future__ import annotations

import base64
import gzip
import json
import zlib

import brotli
import httpx
import pytest

from tests import test_bad_input
from tests.test_bad_input import INVALID, JSON_HEADERS, TOO_LARGE, UNKNOWN, Batch

# The fixtures of tests/test_bad_input.py: an actor, a task and a store; a Batch taken after them.
things = test_bad_input.things
batch = test_bad_input.batch

BAD_JSON = ("invalid-request", None)
HUGE = ["1e30", str(2**63), str(2**64), "9" * 400]


def _lists(api: httpx.Client, things: dict) -> list[str]:
    dataset = api.post("/datasets", params={"name": "hostile-ds"}).json()["data"]["id"]
    queue = api.post("/request-queues", params={"name": "hostile-rq"}).json()["data"]["id"]
    return [
        "/acts",
        f"/acts/{things['actor']}/runs",
        f"/acts/{things['actor']}/builds",
        f"/acts/{things['actor']}/webhooks",
        "/actor-builds",
        "/actor-tasks",
        f"/actor-tasks/{things['task']}/runs",
        f"/actor-tasks/{things['task']}/webhooks",
        "/actor-runs",
        "/datasets",
        f"/datasets/{dataset}/items",
        "/key-value-stores",
        f"/key-value-stores/{things['store']}/keys",
        "/request-queues",
        f"/request-queues/{queue}/requests",
        f"/request-queues/{queue}/head",
        "/webhooks",
        "/webhook-dispatches",
    ]


def test_huge_offsets_and_limits_are_400_naming_the_bound(api, db, account, things) -> None:
    """offset=1e30 or limit=2^63 overflowed the databases' 64-bit integers (OverflowError, a 500)."""
    lists = _lists(api, things)
    batch = Batch(api, db, account.user_id)
    for url in lists:
        # Keys, requests and the head page by cursor: they take a limit and no offset.
        cursor = url.endswith(("/keys", "/requests", "/head"))
        for name in ("limit",) if cursor else ("offset", "limit"):
            for value in HUGE:
                response = batch.expect("GET", url, 400, INVALID, params={name: value})
                if response.status_code == 400 and "9007199254740991" not in response.text:
                    batch.problems.append(f"{url}?{name}={value}: the bound is not named: {response.text}")
    batch.done()


def test_huge_run_numbers_are_400(batch, things) -> None:
    """timeout=1e30 was accepted and the run failed with a traceback in its log."""
    for params in ({"timeout": "1e30"}, {"timeout": str(10**12)}, {"maxItems": str(2**63)}):
        for url in (f"/actor-tasks/{things['task']}/runs", f"/acts/{things['actor']}/runs"):
            batch.expect("POST", url, 400, INVALID, params=params)
    response = batch.expect("POST", f"/acts/{things['actor']}/runs", 400, INVALID, params={"timeout": "1e30"})
    assert "604800" in response.json()["error"]["message"]
    batch.done()


def test_huge_run_options_in_json_are_400(batch, things) -> None:
    """The same bounds hold for a task's options and an actor's defaultRunOptions."""
    for options in ({"timeoutSecs": 10**12}, {"memoryMbytes": 2**70}, {"maxItems": 2**63}):
        batch.expect(
            "POST",
            "/actor-tasks",
            400,
            INVALID,
            json={"actId": things["actor"], "name": "t-big", "options": options},
        )
        batch.expect("PUT", f"/actor-tasks/{things['task']}", 400, INVALID, json={"options": options})
        batch.expect("PUT", f"/acts/{things['actor']}", 400, INVALID, json={"defaultRunOptions": options})
    batch.done()


# --- JSON that breaks parsers or storage ------------------------------------------------------------

DEPTH = 100_000
HOSTILE_BODIES = {
    "deep array": b'{"a": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    "deep object": b'{"a": ' + b'{"a": ' * DEPTH + b"1" + b"}" * DEPTH + b"}",
    "5000-digit integer": b'{"a": ' + b"9" * 5000 + b"}",
    "lone surrogate": b'{"a": "\\ud800"}',
    "lone low surrogate key": b'{"\\udc00": 1}',
    "NaN": b'{"a": NaN}',
    "Infinity": b'{"a": Infinity}',
    "-Infinity": b'{"a": -Infinity}',
    "1e400": b'{"a": 1e400}',
}


def _json_writes(api: httpx.Client, things: dict) -> list[tuple[str, str]]:
    dataset = api.post("/datasets", params={"name": "hostile-ds"}).json()["data"]["id"]
    queue = api.post("/request-queues", params={"name": "hostile-rq"}).json()["data"]["id"]
    hook = api.post(
        "/webhooks",
        json={
            "eventTypes": ["ACTOR.RUN.SUCCEEDED"],
            "requestUrl": "https://example.com/h",
            "condition": {"actorId": things["actor"]},
        },
    )
    assert hook.status_code == 201, hook.text
    hook_id = hook.json()["data"]["id"]
    return [
        ("POST", "/acts"),
        ("PUT", f"/acts/{things['actor']}"),
        ("POST", f"/acts/{things['actor']}/versions"),
        ("POST", f"/acts/{things['actor']}/runs"),
        ("POST", f"/acts/{things['actor']}/run-sync"),
        ("POST", f"/acts/{things['actor']}/validate-input"),
        ("POST", "/actor-tasks"),
        ("PUT", f"/actor-tasks/{things['task']}"),
        ("PUT", f"/actor-tasks/{things['task']}/input"),
        ("POST", f"/actor-tasks/{things['task']}/runs"),
        ("POST", f"/actor-tasks/{things['task']}/run-sync"),
        ("PUT", f"/actor-runs/{UNKNOWN}"),
        ("PUT", f"/datasets/{dataset}"),
        ("POST", f"/datasets/{dataset}/items"),
        ("PUT", f"/key-value-stores/{things['store']}"),
        ("PUT", f"/request-queues/{queue}"),
        ("POST", f"/request-queues/{queue}/requests"),
        ("POST", f"/request-queues/{queue}/requests/batch"),
        ("DELETE", f"/request-queues/{queue}/requests/batch"),
        ("POST", "/webhooks"),
        ("PUT", f"/webhooks/{hook_id}"),
        ("POST", "/tools/encode-and-sign"),
    ]


def test_hostile_json_is_400_on_every_json_write(api, db, account, things) -> None:
    targets = _json_writes(api, things)
    writes = Batch(api, db, account.user_id)  # after the targets exist: nothing below may change
    for name, body in HOSTILE_BODIES.items():
        for n, (method, url) in enumerate(targets):
            # The media type in any case is JSON (a run's input was stored unchecked as "Application/JSON").
            headers = JSON_HEADERS if n % 2 else {"Content-Type": "Application/JSON; charset=utf-8"}
            response = writes.expect(method, url, 400, BAD_JSON, content=body, headers=headers)
            if response.status_code == 400 and name.startswith("deep") and "128" not in response.text:
                writes.problems.append(f"{method} {url} {name}: the depth limit is unnamed: {response.text}")
    writes.done()


def test_json_within_the_bounds_is_kept_as_sent(api, things) -> None:
    """A surrogate pair is one character (an emoji), depth 100 and 300-digit numbers are fine."""
    dataset = api.post("/datasets").json()["data"]["id"]
    deep = b"[" * 100 + b"]" * 100
    body = b'{"e": "\\ud83d\\ude00", "d": ' + deep + b', "n": ' + b"7" * 300 + b"}"
    assert api.post(f"/datasets/{dataset}/items", content=body, headers=JSON_HEADERS).status_code == 201
    [item] = api.get(f"/datasets/{dataset}/items").json()
    assert item["e"] == "\U0001f600" and item["n"] == int("7" * 300)
    assert json.dumps(item["d"]).count("[") == 100


# --- bodies that inflate or hold too many items ----------------------------------------------------


def test_brotli_bomb_is_413(batch, things) -> None:
    """A few hundred bytes of brotli that inflate to 256 MiB (bench/hardening.py sends 1 GiB): refused
    at the limit, not after inflating it all."""
    bomb = brotli.compress(b"[" + b" " * (256 * 1024**2 - 2) + b"]", quality=5)
    assert len(bomb) < 10_000
    headers = {"Content-Encoding": "br", "Content-Type": "application/json"}
    response = batch.expect(
        "POST", f"/acts/{things['actor']}/runs", 413, TOO_LARGE, content=bomb, headers=headers
    )
    assert "9437184" in response.text
    batch.done()


def test_too_many_items_in_one_push_is_400_naming_the_limit(api, db, account) -> None:
    dataset = api.post("/datasets", params={"name": "many-items"}).json()["data"]["id"]
    body = b"[" + b",".join([b"{}"] * 100_001) + b"]"
    pushes = Batch(api, db, account.user_id)
    response = pushes.expect(
        "POST", f"/datasets/{dataset}/items", 400, INVALID, content=body, headers=JSON_HEADERS
    )
    assert "100000" in response.text
    pushes.done()
    ok = api.post(
        f"/datasets/{dataset}/items", content=b"[" + b",".join([b"{}"] * 100_000) + b"]", headers=JSON_HEADERS
    )
    assert ok.status_code == 201, ok.text
    assert api.get(f"/datasets/{dataset}").json()["data"]["itemCount"] == 100_000


def test_deep_json_inside_parameters_and_fields_is_400(batch, things) -> None:
    """JSON carried in a parameter or a field (webhooks, an encoded value, a payload template) was
    parsed with json.loads: deep nesting raised RecursionError there too."""
    deep = b"[" * DEPTH + b"]" * DEPTH
    hooks = base64.b64encode(b"[" * 5000 + b"]" * 5000).decode()  # past the recursion limit, short as a URL
    batch.expect("POST", f"/acts/{things['actor']}/runs", 400, INVALID, params={"webhooks": hooks})
    part = base64.urlsafe_b64encode(deep).decode().rstrip("=")
    batch.expect(
        "POST", "/tools/decode-and-verify", 400, (None, None), json={"encoded": f"{part}.{part}.AAAA"}
    )
    hook = {"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "requestUrl": "https://example.com/h"}
    for field in ("payloadTemplate", "headersTemplate"):
        batch.expect("POST", "/webhooks", 400, INVALID, json={**hook, field: deep.decode()})
    batch.done()


def test_what_schemathesis_found_is_400(batch, things) -> None:
    """A non-ASCII `webhooks` parameter (b64decode's ValueError) and a version whose buildTag is not a
    string (it reached the builds' tag column) were 500s."""
    for params in ({"webhooks": "é"}, {"webhooks": "\x07+Mq\U0002a203"}):
        for url in (f"/acts/{things['actor']}/runs", f"/actor-tasks/{things['task']}/run-sync"):
            batch.expect("POST", url, 400, INVALID, params=params)
    for tag in ([{"": "x"}, []], 5, {"a": 1}):
        batch.expect("POST", f"/acts/{things['actor']}/versions/0.0", 400, INVALID, json={"buildTag": tag})
    batch.done()


def test_a_record_that_is_not_its_content_encoding_is_400(api, batch, things) -> None:
    """Stored as sent, garbage with Content-Encoding br was served back undecodable (schemathesis)."""
    url = f"/key-value-stores/{things['store']}/records/KEEP"
    for encoding in ("br", "gzip", "deflate"):
        headers = {"Content-Encoding": encoding, "Content-Type": "text/plain"}
        batch.expect("PUT", url, 400, BAD_JSON, content=b"\x12\x80not compressed at all", headers=headers)
    batch.done()
    assert api.get(url).content == b"old"
    good = api.put(url, content=brotli.compress(b"new"), headers={"Content-Encoding": "br"})
    assert good.status_code == 201
    assert api.get(url).content == b"new"  # httpx decodes the stored brotli


def test_nul_in_validate_inputs_build_is_400(batch, things) -> None:
    """PostgreSQL refuses NUL in text: it was a 500 there (schemathesis)."""
    url = f"/acts/{things['actor']}/validate-input"
    batch.expect("POST", url, 400, INVALID, params={"build": "a\x00b"}, json={"a": 1})
    batch.done()


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_a_record_cut_short_is_400_and_the_stored_one_is_kept(api, things, encoding: str) -> None:
    """An encoded record whose stream stops before its end decoded without an error, and was stored
    and served back as it came: no client can decode it."""
    url = f"/key-value-stores/{things['store']}/records/CUT"
    value = b"".join(b"line %d\n" % i for i in range(2000))
    compress = {"gzip": gzip.compress, "br": brotli.compress, "deflate": zlib.compress}[encoding]
    whole = compress(value)
    headers = {"Content-Encoding": encoding, "Content-Type": "text/plain"}
    assert api.put(url, content=whole, headers=headers).status_code == 201
    cut = api.put(url, content=whole[: len(whole) // 2], headers=headers)
    assert cut.status_code == 400, cut.text
    assert cut.json()["error"]["type"] == "invalid-request"
    assert api.get(url).content == value
