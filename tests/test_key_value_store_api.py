"""Key-value stores as resources: list, get-or-create, rename, delete, and the keys listing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from apify_client import ApifyClient
from apify_client._models import KeyValueStoreResource, ListOfKeys
from apify_client.errors import ConflictError
from sqlalchemy import func, select

from server.storage.models import KeyValueRecord


def _store(api, name: str | None = None) -> dict:
    response = api.post("/key-value-stores", params={"name": name} if name else None)
    assert response.status_code in (200, 201), response.text
    return response.json()["data"]


def test_list_shows_named_stores_unless_unnamed(api) -> None:
    named = [_store(api, f"store-{i}")["id"] for i in range(3)]
    unnamed = _store(api)["id"]
    listed = api.get("/key-value-stores").json()["data"]
    assert [s["id"] for s in listed["items"]] == named
    assert (listed["total"], listed["count"], listed["offset"], listed["desc"]) == (3, 3, 0, False)
    everything = api.get("/key-value-stores", params={"unnamed": "1"}).json()["data"]
    assert [s["id"] for s in everything["items"]] == [*named, unnamed]
    page = api.get("/key-value-stores", params={"offset": 1, "limit": 1, "desc": "true"}).json()["data"]
    assert [s["id"] for s in page["items"]] == [named[1]]
    assert (page["total"], page["limit"], page["desc"]) == (3, 1, True)
    for item in everything["items"]:
        KeyValueStoreResource.model_validate(item)
    # Nothing is shared between users; an unknown ownership is refused.
    shared = api.get("/key-value-stores", params={"ownership": "sharedWithMe"}).json()["data"]
    assert (shared["items"], shared["total"]) == ([], 0)
    assert len(api.get("/key-value-stores", params={"ownership": "ownedByMe"}).json()["data"]["items"]) == 3
    assert api.get("/key-value-stores", params={"ownership": "everyone"}).status_code == 400


def test_store_object_carries_urls_and_bytes_stored(api, stack) -> None:
    store = _store(api, "sized")
    api.put(f"/key-value-stores/{store['id']}/records/A", content=b"12345")
    api.put(f"/key-value-stores/{store['id']}/records/B", content=b"678")
    got = api.get(f"/key-value-stores/{store['id']}").json()["data"]
    assert got["stats"]["storageBytes"] == 8
    # Signed with the store's key, as Apify's (tests/test_signed_urls.py opens them).
    assert got["recordsPublicUrl"].startswith(
        f"{stack.url}/v2/key-value-stores/{store['id']}/records?signature="
    )
    listed = api.get("/key-value-stores").json()["data"]["items"]
    assert listed[0]["stats"]["storageBytes"] == 8


def test_rename_and_conflict(api, account) -> None:
    first, second = _store(api, "first"), _store(api, "second")
    renamed = api.put(f"/key-value-stores/{first['id']}", json={"name": "renamed"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["data"]["name"] == "renamed"
    assert api.get("/key-value-stores/~renamed").json()["data"]["id"] == first["id"]
    assert api.get("/key-value-stores/~first").status_code == 404

    taken = api.put(f"/key-value-stores/{first['id']}", json={"name": "second"})
    assert taken.status_code == 409
    assert taken.json()["error"]["type"] == "name-not-unique"
    bad = api.put(f"/key-value-stores/{second['id']}", json={"name": "-bad-"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid-input"
    access = api.put(f"/key-value-stores/{second['id']}", json={"generalAccess": "NOPE"})
    assert access.status_code == 400
    # Nothing was written by the refused requests.
    assert api.get(f"/key-value-stores/{second['id']}").json()["data"]["name"] == "second"
    # Same name again is a no-op; null makes the store unnamed.
    assert api.put(f"/key-value-stores/{second['id']}", json={"name": "second"}).status_code == 200
    unnamed = api.put(f"/key-value-stores/{second['id']}", json={"name": None}).json()["data"]
    assert unnamed["name"] is None
    assert [s["id"] for s in api.get("/key-value-stores").json()["data"]["items"]] == [first["id"]]


def test_delete_removes_store_and_records(api, db) -> None:
    store = _store(api, "doomed")["id"]
    api.put(f"/key-value-stores/{store}/records/K", content=b"v")
    deleted = api.delete(f"/key-value-stores/{store}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert api.get(f"/key-value-stores/{store}").status_code == 404
    assert api.delete(f"/key-value-stores/{store}").status_code == 404
    with db.transaction() as session:
        left = session.execute(
            select(func.count()).select_from(KeyValueRecord).where(KeyValueRecord.store_id == store)
        ).scalar_one()
    assert left == 0
    # The name is free again.
    assert api.post("/key-value-stores", params={"name": "doomed"}).status_code == 201


KEYS = ["b", "A", "a", "a-1", "a_2", "Z", "0", "a.b", "(x)", "ab"]


def test_keys_in_binary_order_with_pagination(api, stack) -> None:
    store = _store(api)["id"]
    for key in KEYS:
        assert api.put(f"/key-value-stores/{store}/records/{key}", content=key.encode()).status_code == 201
    ordered = sorted(KEYS, key=lambda k: k.encode())
    full = api.get(f"/key-value-stores/{store}/keys").json()["data"]
    assert [i["key"] for i in full["items"]] == ordered
    assert full["limit"] == 1000 and full["count"] == len(KEYS)
    assert full["isTruncated"] is False
    assert full["exclusiveStartKey"] is None and full["nextExclusiveStartKey"] is None
    first = full["items"][0]
    assert first["size"] == len(first["key"])
    assert first["recordPublicUrl"].startswith(
        f"{stack.url}/v2/key-value-stores/{store}/records/%28x%29?signature="
    )
    ListOfKeys.model_validate(full)

    page = api.get(f"/key-value-stores/{store}/keys", params={"limit": 3, "exclusiveStartKey": "A"})
    data = page.json()["data"]
    start = ordered.index("A") + 1
    assert [i["key"] for i in data["items"]] == ordered[start : start + 3]
    assert data["isTruncated"] is True and data["nextExclusiveStartKey"] == ordered[start + 2]
    assert data["exclusiveStartKey"] == "A" and data["count"] == 3 and data["limit"] == 3


def test_keys_prefix_is_literal_and_case_sensitive(api) -> None:
    store = _store(api)["id"]
    for key in ("a_1", "ab1", "A_2", "a_3"):
        api.put(f"/key-value-stores/{store}/records/{key}", content=b"x")
    got = api.get(f"/key-value-stores/{store}/keys", params={"prefix": "a_"}).json()["data"]
    assert [i["key"] for i in got["items"]] == ["a_1", "a_3"]
    # collection and signature are accepted and ignored.
    same = api.get(
        f"/key-value-stores/{store}/keys", params={"prefix": "a_", "collection": "c", "signature": "s"}
    )
    assert same.json()["data"]["items"] == got["items"]


@pytest.mark.parametrize("params", [{"limit": "x"}, {"limit": "-1"}, {"exclusiveStartKey": "a\x00"}])
def test_keys_bad_parameters(api, params) -> None:
    store = _store(api)["id"]
    response = api.get(f"/key-value-stores/{store}/keys", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid-input"


def test_keys_of_missing_store(api) -> None:
    response = api.get("/key-value-stores/AAAAAAAAAAAAAAAAA/keys")
    assert response.status_code == 404 and response.json()["error"]["type"] == "record-not-found"


@pytest.mark.parametrize("collection", ["/key-value-stores", "/datasets"])
def test_concurrent_get_or_create_gives_one_storage(api, collection) -> None:
    """Racing creates of one name: one 201, the rest 200 with the same storage (never a 409)."""
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: api.post(collection, params={"name": "raced"}), range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["data"]["id"] for r in responses}) == 1


def test_apify_client_stores(stack, account) -> None:
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    info = client.key_value_stores().get_or_create(name="client-kvs")
    kvs = client.key_value_store(info.id)
    for i in range(5):
        kvs.set_record(f"key-{i}", {"i": i})
    kvs.set_record("other", "x", content_type="text/plain")

    page = kvs.list_keys(limit=2)
    assert [k.key for k in page.items] == ["key-0", "key-1"] and page.is_truncated
    page = kvs.list_keys(limit=2, exclusive_start_key=page.next_exclusive_start_key)
    assert [k.key for k in page.items] == ["key-2", "key-3"]
    assert [k.key for k in kvs.list_keys(prefix="key-").items] == [f"key-{i}" for i in range(5)]
    assert [k.key for k in kvs.iterate_keys()] == [*(f"key-{i}" for i in range(5)), "other"]
    assert [k.key for k in kvs.iterate_keys(chunk_size=2)] == [*(f"key-{i}" for i in range(5)), "other"]

    listed = client.key_value_stores().list()
    assert [s.id for s in listed.items] == [info.id] and listed.total == 1
    assert kvs.update(name="client-kvs-2").name == "client-kvs-2"
    other = client.key_value_stores().get_or_create(name="client-kvs-3")
    with pytest.raises(ConflictError):
        client.key_value_store(other.id).update(name="client-kvs-2")
    kvs.delete()
    assert kvs.get() is None
    assert [s.id for s in client.key_value_stores().list().items] == [other.id]
