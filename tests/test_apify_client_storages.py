"""The official Python apify-client, unmodified, on a real Greenroom's key-value stores and datasets."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from xml.etree import ElementTree

import openpyxl
import pytest
from apify_client import ApifyClient
from apify_client.errors import ApifyApiError

from tests.conftest import Account
from tests.stack import Stack


def _client(stack: Stack, account: Account) -> ApifyClient:
    return ApifyClient(token=account.token, api_url=stack.url, max_retries=0)


def test_key_value_store_get_or_create_update_delete(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    store = client.key_value_stores().get_or_create(name="kv-life")
    assert store.name == "kv-life" and store.user_id == account.user_id
    assert client.key_value_stores().get_or_create(name="kv-life").id == store.id  # get, not a second one
    unnamed = client.key_value_stores().get_or_create()
    assert unnamed.id != store.id and unnamed.name is None

    kvs = client.key_value_store(store.id)
    renamed = kvs.update(name="kv-renamed")
    assert renamed.id == store.id and renamed.name == "kv-renamed"
    fetched = client.key_value_store(f"{account.username}/kv-renamed").get()
    assert fetched is not None and fetched.id == store.id
    assert [s.id for s in client.key_value_stores().list().items] == [store.id]  # named only
    listed = client.key_value_stores().list(unnamed=True)
    assert {s.id for s in listed.items} == {store.id, unnamed.id}
    assert listed.total == 2 and listed.count == 2

    kvs.delete()
    assert kvs.get() is None
    kvs.delete()  # a second delete is a 404, which the client ignores
    assert [s.id for s in client.key_value_stores().list(unnamed=True).items] == [unnamed.id]


def test_key_value_record_values_and_content_types(stack: Stack, account: Account) -> None:
    kvs = _client(stack, account).key_value_store(
        _client(stack, account).key_value_stores().get_or_create(name="kv-values").id
    )
    kvs.set_record("json", {"a": [1, 2], "ü": "ß"})
    kvs.set_record("text", "hello", content_type="text/plain")
    kvs.set_record("bin", b"\x00\x01\xff")
    kvs.set_record("big", {"x": "y" * 5000})  # over 1 KiB: the client gzips it

    record = kvs.get_record("json")
    assert record == {"key": "json", "value": {"a": [1, 2], "ü": "ß"}, "content_type": record["content_type"]}
    assert record["content_type"].startswith("application/json")
    text = kvs.get_record("text")
    assert text is not None and text["value"] == "hello" and text["content_type"] == "text/plain"
    binary = kvs.get_record("bin")
    assert binary is not None and binary["value"] == b"\x00\x01\xff"
    assert binary["content_type"] == "application/octet-stream"
    assert kvs.get_record("big")["value"] == {"x": "y" * 5000}
    as_bytes = kvs.get_record_as_bytes("json")
    assert as_bytes is not None and json.loads(as_bytes["value"]) == {"a": [1, 2], "ü": "ß"}
    with kvs.stream_record("text") as streamed:
        assert streamed is not None and streamed["value"].read() == b"hello"

    assert kvs.get_record("missing") is None
    assert kvs.record_exists("text") and not kvs.record_exists("missing")
    kvs.delete_record("text")
    assert kvs.get_record("text") is None and not kvs.record_exists("text")


def test_key_value_list_keys_prefix_limit_and_exclusive_start(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    kvs = client.key_value_store(client.key_value_stores().get_or_create(name="kv-keys").id)
    for key in ("a-1", "a-2", "a-3", "b-1", "c-1"):
        kvs.set_record(key, {"k": key})
    kvs.set_record("sized", "12345", content_type="text/plain")

    everything = kvs.list_keys()
    assert [k.key for k in everything.items] == ["a-1", "a-2", "a-3", "b-1", "c-1", "sized"]
    assert everything.count == 6 and everything.is_truncated is False
    assert everything.next_exclusive_start_key is None
    assert {k.key: k.size for k in everything.items}["sized"] == 5

    page = kvs.list_keys(limit=2)
    assert [k.key for k in page.items] == ["a-1", "a-2"]
    assert page.is_truncated is True and page.next_exclusive_start_key == "a-2" and page.limit == 2
    rest = kvs.list_keys(limit=2, exclusive_start_key="a-2")
    assert [k.key for k in rest.items] == ["a-3", "b-1"] and rest.exclusive_start_key == "a-2"
    between = kvs.list_keys(exclusive_start_key="a-25")  # need not exist: keys after it, in order
    assert [k.key for k in between.items] == ["a-3", "b-1", "c-1", "sized"]

    prefixed = kvs.list_keys(prefix="a-")
    assert [k.key for k in prefixed.items] == ["a-1", "a-2", "a-3"] and prefixed.is_truncated is False
    prefixed_page = kvs.list_keys(prefix="a-", limit=1, exclusive_start_key="a-1")
    assert [k.key for k in prefixed_page.items] == ["a-2"] and prefixed_page.is_truncated is True

    assert [k.key for k in kvs.iterate_keys()] == [k.key for k in everything.items]
    assert [k.key for k in kvs.iterate_keys(limit=3)] == ["a-1", "a-2", "a-3"]


def test_key_value_bad_key_is_rejected_by_the_server(stack: Stack, account: Account) -> None:
    client = _client(stack, account)
    kvs = client.key_value_store(client.key_value_stores().get_or_create(name="kv-bad").id)
    with pytest.raises(ApifyApiError) as raised:
        kvs.set_record("bad key with spaces", {"x": 1})
    assert raised.value.status_code == 400 and raised.value.type == "invalid-record-key"
    assert kvs.list_keys().items == []


def _dataset(stack: Stack, account: Account, name: str) -> tuple[ApifyClient, str]:
    client = _client(stack, account)
    return client, client.datasets().get_or_create(name=name).id


ITEMS = [{"n": i, "name": f"item-{i}", "#hidden": i, "nested": {"v": i}} for i in range(5)]


def test_dataset_push_and_list_items_with_paging_and_shaping(stack: Stack, account: Account) -> None:
    client, dataset_id = _dataset(stack, account, "ds-list")
    dataset = client.dataset(dataset_id)
    dataset.push_items(ITEMS[:1])
    dataset.push_items(ITEMS[1])  # a single dict is one item
    dataset.push_items(json.dumps(ITEMS[2:]))  # a str is sent as is
    dataset.push_items([{"pad": "z" * 2000}])  # over 1 KiB: gzipped
    dataset.push_items([{}])

    page = dataset.list_items()
    assert page.items[:5] == ITEMS and page.total == 7 and page.count == 7
    assert page.offset == 0 and page.desc is False
    window = dataset.list_items(offset=1, limit=2)
    assert [i["n"] for i in window.items] == [1, 2]
    assert (window.offset, window.limit, window.count, window.total) == (1, 2, 2, 7)
    newest = dataset.list_items(desc=True, limit=3)
    assert newest.items[0] == {} and newest.items[2]["n"] == 4 and newest.desc is True
    assert dataset.list_items(fields=["n", "name"], limit=1).items == [{"n": 0, "name": "item-0"}]
    assert dataset.list_items(omit=["nested", "#hidden", "name"], limit=2).items == [{"n": 0}, {"n": 1}]
    # clean: no hidden (#) fields and no empty items
    clean = dataset.list_items(clean=True)
    assert len(clean.items) == 6 and all("#hidden" not in i for i in clean.items)

    info = dataset.get()
    assert info is not None and info.item_count == 7 and info.name == "ds-list"


def test_dataset_iterate_items_and_formats(stack: Stack, account: Account) -> None:
    client, dataset_id = _dataset(stack, account, "ds-formats")
    dataset = client.dataset(dataset_id)
    dataset.push_items(ITEMS)

    assert list(dataset.iterate_items()) == ITEMS
    assert [i["n"] for i in dataset.iterate_items(offset=1, limit=3, chunk_size=2)] == [1, 2, 3]
    assert [i["n"] for i in dataset.iterate_items(desc=True, chunk_size=2)] == [4, 3, 2, 1, 0]

    csv_bytes = dataset.get_items_as_bytes(item_format="csv", fields=["n", "name"], limit=2)
    rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    assert rows == [["n", "name"], ["0", "item-0"], ["1", "item-1"]]

    jsonl = dataset.get_items_as_bytes(item_format="jsonl", clean=True)
    assert [json.loads(line) for line in jsonl.decode().splitlines()] == [
        {k: v for k, v in item.items() if k != "#hidden"} for item in ITEMS
    ]

    xml = ElementTree.fromstring(dataset.get_items_as_bytes(item_format="xml", fields=["n"]))
    assert xml.tag == "items" and [row.findtext("n") for row in xml] == ["0", "1", "2", "3", "4"]

    xlsx = dataset.get_items_as_bytes(item_format="xlsx", fields=["n", "name"])
    assert zipfile.is_zipfile(io.BytesIO(xlsx))
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx)).active
    assert sheet is not None
    assert [list(r) for r in sheet.iter_rows(values_only=True)][:2] == [["n", "name"], [0, "item-0"]]

    with dataset.stream_items(item_format="jsonl", limit=2) as response:
        streamed = b"".join(response.iter_bytes())
    assert [json.loads(line)["n"] for line in streamed.decode().splitlines()] == [0, 1]


def test_dataset_update_delete_and_list(stack: Stack, account: Account) -> None:
    client, dataset_id = _dataset(stack, account, "ds-life")
    dataset = client.dataset(dataset_id)
    assert dataset.update(name="ds-renamed").name == "ds-renamed"
    assert [d.id for d in client.datasets().list().items] == [dataset_id]
    dataset.delete()
    assert dataset.get() is None
    assert client.datasets().list().items == []


def test_request_queue_client(stack: Stack, account: Account) -> None:
    """The client's request queue calls, as the SDK's storage client makes them."""
    from datetime import timedelta

    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    queue = client.request_queues().get_or_create(name="rq-client")
    rq = client.request_queue(queue.id, client_key="client-a")
    added = rq.add_request({"url": "https://h/1", "uniqueKey": "https://h/1", "userData": {"n": 1}})
    assert added.was_already_present is False
    assert rq.add_request({"url": "https://h/1", "uniqueKey": "https://h/1"}).was_already_present is True
    rq.add_request({"url": "https://h/0", "uniqueKey": "https://h/0"}, forefront=True)
    batch = rq.batch_add_requests([{"url": f"https://h/{i}", "uniqueKey": f"https://h/{i}"} for i in (2, 3)])
    assert len(batch.processed_requests) == 2 and batch.unprocessed_requests == []
    assert [i.url for i in rq.list_head(limit=10).items] == [
        "https://h/0",
        "https://h/1",
        "https://h/2",
        "https://h/3",
    ]

    got = rq.get_request(added.request_id)
    assert got is not None and got.url == "https://h/1" and got.user_data is not None
    locked = rq.list_and_lock_head(lock_duration=timedelta(seconds=60), limit=2)
    assert [i.url for i in locked.items] == ["https://h/0", "https://h/1"]
    assert [i.url for i in rq.list_head().items] == ["https://h/2", "https://h/3"]
    assert rq.prolong_request_lock(added.request_id, lock_duration=timedelta(seconds=90)) is not None
    rq.delete_request_lock(added.request_id)

    handled = got.model_dump(by_alias=True) | {"handledAt": "2026-01-01T00:00:00.000Z"}
    assert rq.update_request(handled).was_already_handled is False
    assert rq.unlock_requests().unlocked_count == 1  # h/0, still locked by client-a
    rq.delete_request(rq.list_head().items[0].id)
    rq.batch_delete_requests([{"uniqueKey": "https://h/3"}])
    after = rq.get()
    assert after is not None
    assert (after.total_request_count, after.handled_request_count, after.pending_request_count) == (
        2,
        1,
        1,
    )  # h/1 handled, h/2 pending
    assert sorted(i.url for i in rq.list_requests().items) == ["https://h/1", "https://h/2"]
    assert rq.get_request("missing0000000") is None


@pytest.mark.parametrize("kind", ["datasets", "request_queues", "key_value_stores"])
def test_unnamed_storages_list_with_the_python_client(stack: Stack, account: Account, kind: str) -> None:
    """The client validates each item against Apify's schema, where `name` is a string: an unnamed
    storage (a run's default one) listed with unnamed=True must not come back with `"name": null`."""
    client = _client(stack, account)
    collection = getattr(client, kind)()
    made = collection.get_or_create()  # no name: unnamed
    named = collection.get_or_create(name=f"named-{kind.replace('_', '-')}")
    listed = collection.list(unnamed=True)
    assert {item.id for item in listed.items} == {made.id, named.id}
    assert [item.id for item in collection.list().items] == [named.id]
