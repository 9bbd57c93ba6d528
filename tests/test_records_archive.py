"""GET /v2/key-value-stores/:id/records (and a run's, and a last run's): a ZIP of the records."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import replace

import httpx
from apify_client import ApifyClient

from tests.actors import callable_actor
from tests.conftest import Account
from tests.stack import Stack, free_port


def _zip(response: httpx.Response) -> dict[str, bytes]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        return {info.filename: archive.read(info) for info in archive.infolist()}


def test_records_archive_holds_every_record_as_read(
    stack: Stack, account: Account, api: httpx.Client
) -> None:
    store_id = api.post("/key-value-stores", params={"name": "zipped"}).json()["data"]["id"]
    # The old URL answered 400 for a key-less record path: recordsPublicUrl pointed nowhere.
    assert (
        api.get(f"/key-value-stores/{store_id}")
        .json()["data"]["recordsPublicUrl"]
        .split("?")[0]
        .endswith(f"/v2/key-value-stores/{store_id}/records")
    )
    empty = _zip(api.get(f"/key-value-stores/{store_id}/records"))
    assert empty == {}

    kvs = ApifyClient(token=account.token, api_url=stack.url, max_retries=0).key_value_store(store_id)
    kvs.set_record("a-json", {"x": 1})
    kvs.set_record("a-text", "hello", content_type="text/plain")
    kvs.set_record("b-big", {"y": "z" * 5000})  # over 1 KiB: the client sends it gzipped
    binary = bytes(range(256)) * 10
    api.put(f"/key-value-stores/{store_id}/records/b-bin", content=binary)
    raw = gzip.compress(b"encoded by hand")
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
    assert (
        api.put(f"/key-value-stores/{store_id}/records/c-gz", content=raw, headers=headers).status_code == 201
    )

    r = api.get(f"/key-value-stores/{store_id}/records")
    assert r.headers["content-disposition"] == 'attachment; filename="zipped.zip"'
    files = _zip(r)
    assert sorted(files) == ["a-json", "a-text", "b-big", "b-bin", "c-gz"]
    assert json.loads(files["a-json"]) == {"x": 1} and files["a-text"] == b"hello"
    assert json.loads(files["b-big"]) == {"y": "z" * 5000}  # decoded, as a read of the record is
    assert files["b-bin"] == binary and files["c-gz"] == b"encoded by hand"

    assert sorted(_zip(api.get(f"/key-value-stores/{store_id}/records", params={"prefix": "b-"}))) == [
        "b-big",
        "b-bin",
    ]
    assert _zip(api.get(f"/key-value-stores/{store_id}/records", params={"prefix": "zz"})) == {}
    bad = api.get(f"/key-value-stores/{store_id}/records", params={"prefix": "a\x00"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid-input"
    assert api.get("/key-value-stores/nosuchstore000000/records").status_code == 404


def test_run_records_archive(stack: Stack, account: Account, api: httpx.Client) -> None:
    actor_id = api.post("/acts", json=callable_actor("echo", "echo")).json()["data"]["id"]
    run = api.post(f"/acts/{actor_id}/runs", params={"waitForFinish": 30}, json={"q": 1}).json()["data"]
    task = api.post("/actor-tasks", json={"actId": actor_id, "name": "zip-task", "input": {"q": 2}})
    task_id = task.json()["data"]["id"]
    task_run = api.post(f"/actor-tasks/{task_id}/runs", params={"waitForFinish": 30}).json()["data"]
    files = _zip(api.get(f"/actor-runs/{run['id']}/key-value-store/records"))
    assert sorted(files) == ["INPUT", "OUTPUT"] and json.loads(files["OUTPUT"]) == {"input": {"q": 1}}
    last = _zip(api.get(f"/acts/{actor_id}/runs/last/key-value-store/records", params={"prefix": "OUT"}))
    assert json.loads(last["OUTPUT"]) == {"input": {"q": 2}}
    task_last = _zip(api.get(f"/actor-tasks/{task_id}/runs/last/key-value-store/records"))
    assert json.loads(task_last["OUTPUT"]) == {"input": {"q": 2}}
    assert task_run["defaultKeyValueStoreId"] != run["defaultKeyValueStoreId"]


def test_records_archive_limits_are_settings(stack: Stack, account: Account, api: httpx.Client) -> None:
    """An archive over a limit is refused before any byte of it, naming the setting."""
    store_id = api.post("/key-value-stores", params={"name": "limited"}).json()["data"]["id"]
    for key in ("k1", "k2", "k3"):
        api.put(f"/key-value-stores/{store_id}/records/{key}", content=b"x" * 100)
    own = Stack(
        replace(
            stack.settings, port=free_port(), records_archive_max_records=2, records_archive_max_bytes=250
        )
    )
    try:
        own.start_api()
        with own.client(account.token) as limited:
            r = limited.get(f"/key-value-stores/{store_id}/records")
            assert r.status_code == 400 and r.json()["error"]["type"] == "invalid-request"
            assert "GREENROOM_RECORDS_ARCHIVE_MAX_RECORDS" in r.json()["error"]["message"]
            r = limited.get(f"/key-value-stores/{store_id}/records", params={"prefix": "k"})
            assert "GREENROOM_RECORDS_ARCHIVE_MAX_RECORDS" in r.json()["error"]["message"]
            # Two records pass the count but not the bytes (100 + 200 > 250).
            api.delete(f"/key-value-stores/{store_id}/records/k3")
            api.put(f"/key-value-stores/{store_id}/records/k2", content=b"x" * 200)
            r = limited.get(f"/key-value-stores/{store_id}/records")
            assert (
                r.status_code == 400 and "GREENROOM_RECORDS_ARCHIVE_MAX_BYTES" in r.json()["error"]["message"]
            )
            assert sorted(
                _zip(limited.get(f"/key-value-stores/{store_id}/records", params={"prefix": "k1"}))
            ) == ["k1"]
    finally:
        own.stop()
