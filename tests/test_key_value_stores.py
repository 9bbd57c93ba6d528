"""Key-value stores and records: bytes, Content-Type and Content-Encoding kept exactly as uploaded."""

from __future__ import annotations

import gzip
import struct
import zlib

import brotli
import httpx
import pytest
from apify_client import ApifyClient
from apify_client._models import KeyValueStoreResource
from sqlalchemy import select

from server.storage.models import KeyValueRecord


def _png() -> bytes:
    """A real 1x1 PNG: binary, with NUL and high bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


RECORDS = [
    ("json", b'{"a": [1, 2], "b": "\xc3\xa9"}', "application/json; charset=utf-8"),
    ("html", b"<!doctype html><p>hi</p>", "text/html"),
    ("latin1", "caf\u00e9".encode("latin-1"), "text/plain; charset=iso-8859-1"),
    ("bytes", bytes(range(256)), "application/octet-stream"),
    ("image", _png(), "image/png"),
    ("xml", b"<a>1</a>", "application/xml"),
]


@pytest.fixture
def store(api) -> str:
    response = api.post("/key-value-stores")
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def _raw_get(api: httpx.Client, url: str, **kwargs) -> tuple[httpx.Response, bytes]:
    """GET without letting httpx undo a Content-Encoding: the bytes exactly as the server sent them."""
    with api.stream("GET", url, **kwargs) as response:
        return response, b"".join(response.iter_raw())


def test_record_round_trip_keeps_bytes_and_content_type(api, stack, store) -> None:
    for name, value, content_type in RECORDS:
        url = f"/key-value-stores/{store}/records/{name}"
        put = api.put(url, content=value, headers={"Content-Type": content_type})
        assert put.status_code == 201, (name, put.text)
        assert put.json() == {}
        assert put.headers["location"] == f"{stack.url}/v2/key-value-stores/{store}/records/{name}"

        got = api.get(url)
        assert got.status_code == 200, name
        assert (name, got.content) == (name, value)
        assert (name, got.headers["content-type"]) == (name, content_type)
        assert "content-encoding" not in got.headers
        # What the clients send: attachment=true (and the deprecated disableRedirect) change nothing here.
        again = api.get(url, params={"attachment": "true", "disableRedirect": "1"})
        assert again.status_code == 200 and again.content == value


def test_put_overwrites_value_and_content_type(api, store) -> None:
    url = f"/key-value-stores/{store}/records/K"
    assert api.put(url, json={"v": 1}).status_code == 201
    assert api.put(url, content=b"second", headers={"Content-Type": "text/plain"}).status_code == 201
    got = api.get(url)
    assert got.content == b"second"
    assert got.headers["content-type"].startswith("text/plain")


def test_record_without_content_type_is_served_with_one(api, store) -> None:
    url = f"/key-value-stores/{store}/records/untyped"
    assert api.put(url, content=b"\x00\x01").status_code == 201
    got = api.get(url)
    assert got.content == b"\x00\x01"
    assert got.headers["content-type"] == "application/octet-stream"


def test_empty_record(api, store) -> None:
    url = f"/key-value-stores/{store}/records/empty"
    assert api.put(url, content=b"", headers={"Content-Type": "text/plain"}).status_code == 201
    got = api.get(url)
    assert got.status_code == 200 and got.content == b""
    assert api.head(url).status_code == 200


def test_post_is_an_alias_of_put(api, stack, store) -> None:
    url = f"/key-value-stores/{store}/records/posted"
    response = api.post(url, content=b"via post", headers={"Content-Type": "text/plain"})
    assert response.status_code == 201
    assert response.json() == {}
    assert response.headers["location"].endswith(f"/v2/key-value-stores/{store}/records/posted")
    assert api.get(url).content == b"via post"


def test_head_and_delete(api, store) -> None:
    url = f"/key-value-stores/{store}/records/gone"
    missing = api.head(url)
    assert missing.status_code == 404 and missing.content == b""
    assert api.put(url, content=b"12345", headers={"Content-Type": "text/plain"}).status_code == 201
    head = api.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"].startswith("text/plain")

    deleted = api.delete(url)
    assert deleted.status_code == 204 and deleted.content == b""
    assert api.head(url).status_code == 404
    got = api.get(url)
    assert got.status_code == 404
    assert got.json()["error"]["type"] == "record-not-found"


def test_keys_are_case_sensitive_and_stores_separate(api, store) -> None:
    other = api.post("/key-value-stores").json()["data"]["id"]
    assert api.put(f"/key-value-stores/{store}/records/Key", content=b"upper").status_code == 201
    assert api.put(f"/key-value-stores/{store}/records/key", content=b"lower").status_code == 201
    assert api.get(f"/key-value-stores/{store}/records/Key").content == b"upper"
    assert api.get(f"/key-value-stores/{store}/records/key").content == b"lower"
    assert api.head(f"/key-value-stores/{other}/records/key").status_code == 404


ENCODERS = {"gzip": gzip.compress, "br": brotli.compress, "deflate": zlib.compress}


@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_encoded_record_is_stored_and_served_still_encoded(api, db, store, encoding) -> None:
    plain = b'{"big": "' + b"z" * 5000 + b'"}'
    encoded = ENCODERS[encoding](plain)
    url = f"/key-value-stores/{store}/records/packed"
    headers = {"Content-Type": "application/json; charset=utf-8", "Content-Encoding": encoding}
    assert api.put(url, content=encoded, headers=headers).status_code == 201

    with db.transaction() as session:
        row = session.execute(
            select(KeyValueRecord).where(KeyValueRecord.store_id == store, KeyValueRecord.key == "packed")
        ).scalar_one()
        assert row.value == encoded
        assert row.content_encoding == encoding
        assert row.content_type == "application/json; charset=utf-8"

    response, raw = _raw_get(api, url, headers={"Accept-Encoding": encoding})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == encoding
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert raw == encoded
    # And any HTTP client that honours Content-Encoding gets the original bytes.
    assert api.get(url).content == plain
    assert api.head(url).headers["content-encoding"] == encoding


def test_identity_encoding_is_stored_plain(api, db, store) -> None:
    url = f"/key-value-stores/{store}/records/ident"
    headers = {"Content-Type": "text/plain", "Content-Encoding": "identity"}
    assert api.put(url, content=b"as is", headers=headers).status_code == 201
    got = api.get(url)
    assert got.content == b"as is"
    assert "content-encoding" not in got.headers


def test_named_store_get_or_create(api, stack, account) -> None:
    first = api.post("/key-value-stores", params={"name": "my-store"})
    assert first.status_code == 201, first.text
    created = first.json()["data"]
    assert created["name"] == "my-store"
    assert created["userId"] == account.user_id
    assert first.headers["location"] == f"{stack.url}/v2/key-value-stores/{created['id']}"
    KeyValueStoreResource.model_validate(created)

    second = api.post("/key-value-stores", params={"name": "my-store"}, json={})
    assert second.status_code == 200
    assert second.json()["data"]["id"] == created["id"]

    for ref in (created["id"], "~my-store", f"{account.username}~my-store"):
        got = api.get(f"/key-value-stores/{ref}")
        assert got.status_code == 200, (ref, got.text)
        assert got.json()["data"]["id"] == created["id"]
    # Records are reachable through the name as well, and a put is a change of the store's.
    for ref in ("~my-store", f"{account.username}~my-store", created["id"]):
        before = api.get(f"/key-value-stores/{ref}").json()["data"]["modifiedAt"]
        assert api.put(f"/key-value-stores/{ref}/records/K", content=ref.encode()).status_code == 201
        assert api.get(f"/key-value-stores/{created['id']}/records/K").content == ref.encode()
        assert api.get(f"/key-value-stores/{ref}").json()["data"]["modifiedAt"] > before


def test_unnamed_stores_are_always_new(api) -> None:
    first = api.post("/key-value-stores")
    second = api.post("/key-value-stores")
    assert first.status_code == second.status_code == 201
    assert first.json()["data"]["id"] != second.json()["data"]["id"]
    assert first.json()["data"]["name"] is None


def test_apify_client_record_round_trip(stack, account) -> None:
    """The official client: it gzips bodies of 1 KiB or more, and reads 404 as None / False."""
    client = ApifyClient(token=account.token, api_url=stack.url, max_retries=0)
    store = client.key_value_stores().get_or_create(name="client-store")
    again = client.key_value_stores().get_or_create(name="client-store")
    assert store.id == again.id
    kvs = client.key_value_store(store.id)
    big = {"rows": [{"n": i, "text": "x" * 20} for i in range(100)]}
    kvs.set_record("BIG", big)
    kvs.set_record("TEXT", "hello", content_type="text/plain")
    assert kvs.get_record("BIG")["value"] == big
    text = kvs.get_record("TEXT")
    assert text["value"] == "hello" and text["content_type"].startswith("text/plain")
    assert kvs.record_exists("BIG") is True
    kvs.delete_record("BIG")
    assert kvs.record_exists("BIG") is False
    assert kvs.get_record("BIG") is None
