"""Datasets: the collection, rename and delete, items in every format, and run-sync-get-dataset-items."""

from __future__ import annotations

import csv
import gzip
import io
import json
import xml.etree.ElementTree as ET
import zlib
from dataclasses import replace

import brotli
import httpx
import openpyxl
import pytest
from apify_client import ApifyClient
from apify_client._models import DatasetResource
from apify_client.errors import ConflictError
from sqlalchemy import func, select

from server.storage.models import DatasetItem, Run
from tests.actors import callable_actor
from tests.named_run import named_run
from tests.stack import free_port

ITEMS = [
    {"id": 1, "name": "one", "#hidden": "h1", "nested": {"a": {"b": 1}}, "tags": ["x", "y"]},
    {},
    {"id": 3, "name": "three", "#hidden": "h3"},
    {"id": 4, "name": "four"},
]
PAGINATION = ("offset", "limit", "count", "total", "desc")


def _dataset(api, name: str | None = None) -> dict:
    response = api.post("/datasets", params={"name": name} if name else None)
    assert response.status_code in (200, 201), response.text
    return response.json()["data"]


def _filled(api) -> str:
    dataset = _dataset(api)["id"]
    assert api.post(f"/datasets/{dataset}/items", json=ITEMS).status_code == 201
    return dataset


def _pages(response) -> tuple:
    return tuple(response.headers[f"x-apify-pagination-{h}"] for h in PAGINATION)


def test_get_or_create_list_rename_delete(api, stack, db) -> None:
    created = api.post("/datasets", params={"name": "my-data"})
    assert created.status_code == 201
    data = created.json()["data"]
    assert created.headers["location"] == f"{stack.url}/v2/datasets/{data['id']}"
    DatasetResource.model_validate(data)
    again = api.post("/datasets", params={"name": "my-data"})
    assert again.status_code == 200 and again.json()["data"]["id"] == data["id"]
    unnamed = _dataset(api)["id"]
    assert api.post("/datasets", params={"name": "bad name"}).status_code == 400

    assert [d["id"] for d in api.get("/datasets").json()["data"]["items"]] == [data["id"]]
    listed = api.get("/datasets", params={"unnamed": "true"}).json()["data"]
    assert [d["id"] for d in listed["items"]] == [data["id"], unnamed] and listed["total"] == 2
    assert api.get("/datasets", params={"ownership": "sharedWithMe"}).json()["data"]["items"] == []

    other = _dataset(api, "other")
    assert api.put(f"/datasets/{other['id']}", json={"name": "my-data"}).status_code == 409
    renamed = api.put(f"/datasets/{data['id']}", json={"name": "renamed"}).json()["data"]
    assert renamed["name"] == "renamed"
    assert api.get("/datasets/~renamed").json()["data"]["id"] == data["id"]

    assert api.post(f"/datasets/{data['id']}/items", json=ITEMS).status_code == 201
    assert api.delete(f"/datasets/{data['id']}").status_code == 204
    assert api.get(f"/datasets/{data['id']}").status_code == 404
    assert api.get(f"/datasets/{data['id']}/items").status_code == 404
    with db.transaction() as session:
        left = session.execute(
            select(func.count()).select_from(DatasetItem).where(DatasetItem.dataset_id == data["id"])
        ).scalar_one()
    assert left == 0


def test_items_pagination_headers_and_order(api) -> None:
    dataset = _filled(api)
    everything = api.get(f"/datasets/{dataset}/items")
    assert everything.json() == ITEMS
    assert everything.headers["content-type"].startswith("application/json")
    assert _pages(everything) == ("0", "999999999999", "4", "4", "false")
    page = api.get(f"/datasets/{dataset}/items", params={"offset": 1, "limit": 2, "desc": "1"})
    assert page.json() == [ITEMS[2], ITEMS[1]]
    assert _pages(page) == ("1", "2", "2", "4", "true")
    huge = api.get(f"/datasets/{dataset}/items", params={"limit": 999999999999, "offset": 3})
    assert huge.json() == [ITEMS[3]] and _pages(huge)[:3] == ("3", "999999999999", "1")
    head = api.head(f"/datasets/{dataset}/items", params={"offset": 1, "limit": 10})
    assert head.status_code == 200 and head.content == b""
    assert _pages(head) == ("1", "10", "3", "4", "false")


def test_items_fields_omit_clean_unwind_flatten(api) -> None:
    url = f"/datasets/{_filled(api)}/items"
    picked = api.get(url, params={"fields": "name,id", "omit": "id"}).json()
    assert picked == [{"name": "one"}, {}, {"name": "three"}, {"name": "four"}]
    assert list(api.get(url, params={"fields": "name,id"}).json()[0]) == ["name", "id"]
    clean = api.get(url, params={"clean": "true", "omit": "nested,tags"})
    assert clean.json() == [{"id": 1, "name": "one"}, {"id": 3, "name": "three"}, {"id": 4, "name": "four"}]
    # Count is items read, not items returned (the empty one was read, then skipped).
    assert clean.headers["x-apify-pagination-count"] == "4"
    hidden = api.get(url, params={"skipHidden": "1", "limit": 1}).json()
    assert "#hidden" not in hidden[0] and hidden[0]["id"] == 1
    assert api.get(url, params={"skipEmpty": "1"}).json()[1]["#hidden"] == "h3"
    unwound = api.get(url, params={"unwind": "tags", "fields": "id,tags", "limit": 1}).json()
    assert unwound == [{"id": 1, "tags": "x"}, {"id": 1, "tags": "y"}]
    flat = api.get(url, params={"flatten": "nested", "fields": "nested.a.b", "limit": 1}).json()
    assert flat == [{"nested.a.b": 1}]


def test_items_formats(api) -> None:
    url = f"/datasets/{_filled(api)}/items"
    params = {"clean": "1", "fields": "id,name"}
    csv_response = api.get(url, params={**params, "format": "csv"})
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert csv_response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert rows == [["id", "name"], ["1", "one"], ["3", "three"], ["4", "four"]]
    assert _pages(csv_response) == ("0", "999999999999", "4", "4", "false")
    tsv = api.get(
        url, params={**params, "format": "csv", "bom": "0", "delimiter": "\t", "skipHeaderRow": "1"}
    )
    assert tsv.content == b"1\tone\r\n3\tthree\r\n4\tfour\r\n"

    jsonl = api.get(url, params={**params, "format": "jsonl"})
    assert jsonl.headers["content-type"].startswith("application/jsonl")
    assert jsonl.content.decode().splitlines()[0] == '{"id": 1, "name": "one"}'

    xml = api.get(url, params={**params, "format": "xml", "xmlRoot": "rows", "xmlRow": "row"})
    assert xml.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "rows" and [r.findtext("name") for r in root.findall("row")] == [
        "one",
        "three",
        "four",
    ]

    rss = api.get(url, params={**params, "format": "rss", "feedTitle": "Feed"})
    assert rss.headers["content-type"].startswith("application/rss+xml")
    channel = ET.fromstring(rss.content).find("channel")
    assert channel is not None and channel.findtext("title") == "Feed"
    assert [i.findtext("name") for i in channel.findall("item")] == ["one", "three", "four"]
    default = ET.fromstring(api.get(url, params={"format": "rss"}).content)
    assert default.findtext("channel/description") == f'Items in dataset with id "{url.split("/")[2]}".'

    html = api.get(url, params={**params, "format": "html"})
    assert html.headers["content-type"].startswith("text/html") and "<td>three</td>" in html.text

    xlsx = api.get(url, params={**params, "format": "xlsx", "attachment": "true"})
    assert xlsx.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert xlsx.headers["content-disposition"].startswith("attachment; filename=")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["id", "name"],
        [1, "one"],
        [3, "three"],
        [4, "four"],
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"format": "yaml"},
        {"limit": "many"},
        {"offset": "-1"},
        {"desc": "maybe"},
        {"delimiter": ";;"},
        {"xmlRoot": "1bad"},
        {"fields": "a,b", "outputFields": "x"},
    ],
)
def test_items_bad_parameters(api, params) -> None:
    response = api.get(f"/datasets/{_filled(api)}/items", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid-input"


def test_run_sync_get_dataset_items(api, db) -> None:
    assert api.post("/acts", json=callable_actor("pusher", "push_items")).status_code == 201
    task = api.post("/actor-tasks", json={"actId": "~pusher", "name": "pusher-task"}).json()["data"]
    for path in ("/acts/~pusher", "/actors/~pusher", f"/actor-tasks/{task['id']}"):
        response = api.post(f"{path}/run-sync-get-dataset-items", params={"clean": "1"})
        assert response.status_code == 201, (path, response.text)
        assert response.json() == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert _pages(response) == ("0", "999999999999", "3", "3", "false")
    items = [{"a": 1}, {"a": 2}]
    got = api.post(
        "/acts/~pusher/run-sync-get-dataset-items", params={"format": "csv"}, json={"items": items}
    )
    assert got.status_code == 201 and got.content.decode("utf-8-sig") == "a\r\n1\r\n2\r\n"
    viaget = api.get(
        f"/actor-tasks/{task['id']}/run-sync-get-dataset-items", params={"desc": "1", "limit": 1}
    )
    assert viaget.status_code == 201 and viaget.json() == [{"n": 2, "#secret": 2}]


def test_run_sync_get_dataset_items_errors(api, db) -> None:
    assert api.post("/acts", json=callable_actor("failing", "fail")).status_code == 201
    failed = api.post("/acts/~failing/run-sync-get-dataset-items")
    assert failed.status_code == 400 and failed.json()["error"]["type"] == "run-failed"
    assert named_run(api, failed)["status"] == "FAILED"
    with db.transaction() as session:
        runs_before = session.execute(select(func.count()).select_from(Run)).scalar_one()
    bad = api.post("/acts/~failing/run-sync-get-dataset-items", params={"format": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid-input"
    with db.transaction() as session:
        assert session.execute(select(func.count()).select_from(Run)).scalar_one() == runs_before
    missing = api.post("/acts/~nobody/run-sync-get-dataset-items")
    assert missing.status_code == 404


def test_run_sync_get_dataset_items_408(stack, api, db, account) -> None:
    """Past the endpoint's limit: 408 run-timeout-exceeded, and the run goes on to its end."""
    short_url = stack.start_api(replace(stack.settings, port=free_port(), run_sync_wait_s=1.0))
    assert api.post("/acts", json=callable_actor("sleeper", "sleep")).status_code == 201
    response = httpx.post(
        f"{short_url}/v2/acts/~sleeper/run-sync-get-dataset-items",
        json={"seconds": 3},
        headers=api.headers,
        timeout=30,
    )
    assert response.status_code == 408
    assert response.json()["error"]["type"] == "run-timeout-exceeded"
    with db.transaction() as session:
        (run_id,) = session.execute(select(Run.id).where(Run.user_id == account.user_id)).scalars().all()
    finished = named_run(api, response)
    assert finished["id"] == run_id and finished["status"] == "SUCCEEDED"


def test_apify_client_datasets(stack, account) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    info = client.datasets().get_or_create(name="client-ds")
    assert client.datasets().get_or_create(name="client-ds").id == info.id
    dataset = client.dataset(info.id)
    dataset.push_items(ITEMS)
    dataset.push_items([{"id": i, "pad": "x" * 50} for i in range(5, 30)])  # over 1 KiB: gzipped
    page = dataset.list_items(offset=1, limit=3, desc=True, fields=["id"])
    assert page.items == [{"id": 28}, {"id": 27}, {"id": 26}]
    assert (page.total, page.offset, page.limit, page.count, page.desc) == (29, 1, 3, 3, True)
    cleaned = dataset.list_items(clean=True, omit=["nested", "tags"], limit=4)
    assert cleaned.items == [{"id": 1, "name": "one"}, {"id": 3, "name": "three"}, {"id": 4, "name": "four"}]
    assert [i["id"] for i in dataset.iterate_items(clean=True)] == [1, 3, 4, *range(5, 30)]
    assert len(list(dataset.iterate_items(chunk_size=7))) == 29
    raw = dataset.get_items_as_bytes(item_format="csv", fields=["id"], limit=2, bom=False)
    # The empty item is a row with one empty field, which CSV spells "" (a bare line would be no row).
    assert raw == b'id\r\n1\r\n""\r\n'
    assert [d.id for d in client.datasets().list().items] == [info.id]
    assert dataset.update(name="client-ds-2").name == "client-ds-2"
    other = client.datasets().get_or_create(name="client-ds-3")
    with pytest.raises(ConflictError):
        client.dataset(other.id).update(name="client-ds-2")
    dataset.delete()
    assert dataset.get() is None


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
@pytest.mark.parametrize("items", [50, 5000])
def test_encoded_pushes_small_and_past_what_the_loop_decodes(
    api: httpx.Client, encoding: str, items: int
) -> None:
    """A small encoded body is decoded (and its items parsed) on the event loop while its output stays
    within server/api/body.py's HERE_BYTES (64 KiB); 5,000 items inflate past that from a few KiB and
    are decoded again, whole, in a worker thread. Either way every item is stored, in order."""
    dataset = api.post("/datasets").json()["data"]["id"]
    body = json.dumps([{"n": i, "pad": "x" * 20} for i in range(items)]).encode()
    assert (len(body) > 64 * 1024) == (items == 5000)
    compress = {"gzip": gzip.compress, "br": brotli.compress, "deflate": zlib.compress}[encoding]
    headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
    pushed = api.post(f"/datasets/{dataset}/items", content=compress(body), headers=headers)
    assert pushed.status_code == 201, pushed.text
    stored = api.get(f"/datasets/{dataset}/items", params={"fields": "n"}).json()
    assert stored == [{"n": i} for i in range(items)]


_LONG = b"".join(b"line %d\n" % i for i in range(20_000))  # about 200 KB: past the 64 KiB checked on the loop


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_an_encoded_record_past_what_the_loop_checks_is_kept_encoded(
    api: httpx.Client, encoding: str
) -> None:
    """A record stored encoded is checked to decode (server/api/body.py check_encoded): on the loop up
    to 64 KiB of its output, the rest of a longer one in a worker thread."""
    store = api.post("/key-value-stores").json()["data"]["id"]
    compress = {"gzip": gzip.compress, "br": brotli.compress}[encoding]
    url = f"/key-value-stores/{store}/records/LONG"
    headers = {"Content-Encoding": encoding, "Content-Type": "text/plain"}
    assert api.put(url, content=compress(_LONG), headers=headers).status_code == 201
    assert api.get(url).content == _LONG  # httpx decodes what was stored encoded


def test_a_long_gzip_record_corrupt_past_what_the_loop_checks_is_400(api: httpx.Client) -> None:
    """Corrupt after the first 64 KiB of output: the check in the worker thread finds it (gzip's
    checksum at its end); the record stored before is left as it was."""
    store = api.post("/key-value-stores").json()["data"]["id"]
    url = f"/key-value-stores/{store}/records/LONG"
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
    encoded = gzip.compress(_LONG)
    assert api.put(url, content=encoded, headers=headers).status_code == 201
    middle = len(encoded) // 2
    broken = encoded[:middle] + b"\xff" * 64 + encoded[middle + 64 :]
    refused = api.put(url, content=broken, headers=headers)
    assert refused.status_code == 400, refused.text
    assert "not valid gzip" in refused.json()["error"]["message"]
    assert api.get(url).content == _LONG
