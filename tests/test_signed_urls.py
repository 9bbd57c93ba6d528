"""Signed public URLs, as Apify has them: the official Python client's public-URL methods make
URLs that a plain HTTP client opens with no token; bad, expired and other storages' signatures
are refused; a signature never opens a write."""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from apify_client import ApifyClient
from apify_client._utils.crypto import create_hmac_signature, create_storage_content_signature

from server.settings import Settings
from server.shapes import dataset_json, key_value_store_with_stats_json
from server.signatures import (
    hmac_signature,
    record_signature_valid,
    storage_signature,
    storage_signature_valid,
)
from server.storage.db import SyncDatabase
from server.storage.models import Dataset, KeyValueStore, User
from server.users import create_user
from tests.conftest import Account
from tests.stack import Stack

ITEMS = [{"n": 1}, {"n": 2}, {"n": 3}]


def _client(stack: Stack, account: Account) -> ApifyClient:
    # api_public_url: the client's public-URL methods put this base in the URLs (default api.apify.com).
    return ApifyClient(token=account.token, api_url=stack.url, api_public_url=stack.url, max_retries=0)


def _other(db: SyncDatabase) -> Account:
    user, token = create_user(db, f"o{uuid.uuid4().hex[:12]}")
    return Account(user.username, user.id, token)


def _get(url: str, **params: str) -> httpx.Response:
    """A plain GET with no token, as a browser following a shared link."""
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
    return httpx.get(url, timeout=30)


def _signature(url: str) -> str:
    return parse_qs(urlsplit(url).query)["signature"][0]


def _with_signature(url: str, signature: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {"signature": signature}
    return parts._replace(query=urlencode(query)).geturl()


def _refused(response: httpx.Response, what: str) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["type"] == "insufficient-permissions"
    assert error["message"].startswith(f"Insufficient permissions for the {what}.")


@pytest.fixture
def filled(stack: Stack, account: Account) -> tuple[ApifyClient, str, str]:
    """The account's client, a dataset with ITEMS and a store with two records."""
    client = _client(stack, account)
    dataset = client.datasets().get_or_create(name=f"ds-{uuid.uuid4().hex[:8]}")
    client.dataset(dataset.id).push_items(ITEMS)
    store = client.key_value_stores().get_or_create(name=f"kv-{uuid.uuid4().hex[:8]}")
    client.key_value_store(store.id).set_record("a-key", {"hello": "world"})
    client.key_value_store(store.id).set_record("other", "text", content_type="text/plain")
    return client, dataset.id, store.id


def test_signatures_match_the_clients() -> None:
    """Made as the clients make them, read as they send them (the Python client pads, JS does not)."""
    for i in range(200):
        secret, message = uuid.uuid4().hex, f"{i}.{uuid.uuid4().hex}ü"
        assert hmac_signature(secret, message) == create_hmac_signature(secret, message)
    secret, now = uuid.uuid4().hex, int(time.time() * 1000)
    padded = create_storage_content_signature("DsId", secret, expires_in=timedelta(minutes=1))
    assert storage_signature_valid(padded, "DsId", secret, now)
    assert storage_signature_valid(padded.rstrip("="), "DsId", secret, now)
    assert not storage_signature_valid(padded, "DsId", secret, now + 61_000)  # expired
    assert not storage_signature_valid(padded, "OtherId", secret, now)
    assert not storage_signature_valid(padded, "DsId", uuid.uuid4().hex, now)
    forever = storage_signature("DsId", secret)
    assert forever.rstrip("=") == create_storage_content_signature("DsId", secret).rstrip("=")
    assert storage_signature_valid(forever, "DsId", secret, 2**62)
    assert record_signature_valid(create_hmac_signature(secret, "k"), "k", secret)
    assert not record_signature_valid(create_hmac_signature(secret, "k"), "k2", secret)
    for garbage in ("", "=", "\x00", "ü", "!!", "a" * 1000, "MC4wLg", "MC4wLjAuMC4w"):
        assert not storage_signature_valid(garbage, "DsId", secret, now)
        assert not record_signature_valid(garbage, "k", secret)


def test_storage_objects_show_the_key_and_signed_urls(
    stack: Stack, account: Account, filled: tuple[ApifyClient, str, str]
) -> None:
    client, dataset_id, store_id = filled
    dataset = client.dataset(dataset_id).get()
    store = client.key_value_store(store_id).get()
    assert dataset is not None and store is not None
    assert dataset.url_signing_secret_key and store.url_signing_secret_key
    assert dataset.url_signing_secret_key != store.url_signing_secret_key

    items_url = str(dataset.items_public_url)
    assert items_url.startswith(f"{stack.url}/v2/datasets/{dataset_id}/items?signature=")
    assert _get(items_url).json() == ITEMS

    keys_url = str(store.keys_public_url)
    assert keys_url.startswith(f"{stack.url}/v2/key-value-stores/{store_id}/keys?signature=")
    keys = _get(keys_url).json()["data"]["items"]
    assert [k["key"] for k in keys] == ["a-key", "other"]
    record = _get(keys[1]["recordPublicUrl"])  # each key's URL carries that record's signature
    assert record.status_code == 200 and record.text == "text"
    assert record.headers["content-type"].startswith("text/plain")
    assert str(store.records_public_url).startswith(f"{stack.url}/v2/key-value-stores/{store_id}/records")
    archive = _get(str(store.records_public_url))  # the signed ZIP of every record, without a token
    assert archive.headers["content-type"] == "application/zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == ["a-key", "other"]

    # Lists show the same (the owner sees the key in every storage object).
    listed = client.key_value_stores().list().items
    keys = [s.url_signing_secret_key for s in listed if s.id == store_id]
    assert keys == [store.url_signing_secret_key]


def test_python_client_public_url_methods_open_without_a_token(filled: tuple[ApifyClient, str, str]) -> None:
    client, dataset_id, store_id = filled
    items_url = client.dataset(dataset_id).create_items_public_url(limit=1, offset=1, desc=False)
    assert "signature=" in items_url
    response = _get(items_url)
    assert response.status_code == 200 and response.json() == [{"n": 2}]
    assert response.headers["x-apify-pagination-total"] == "3"
    csv = _get(client.dataset(dataset_id).create_items_public_url(item_format="csv", fields=["n"]))
    assert csv.content.decode("utf-8-sig").split() == ["n", "1", "2", "3"]  # CSV has a BOM
    expiring = client.dataset(dataset_id).create_items_public_url(expires_in=timedelta(minutes=5))
    assert _get(expiring).json() == ITEMS

    kvs = client.key_value_store(store_id)
    keys_url = kvs.create_keys_public_url(prefix="a-", expires_in=timedelta(minutes=5))
    keys = _get(keys_url)
    assert keys.status_code == 200 and [k["key"] for k in keys.json()["data"]["items"]] == ["a-key"]
    record = _get(kvs.get_record_public_url("a-key"))
    assert record.status_code == 200 and record.json() == {"hello": "world"}
    assert _get(kvs.get_record_public_url("a-key"), attachment="true").json() == {"hello": "world"}
    assert httpx.head(kvs.get_record_public_url("a-key")).status_code == 200

    # By username~name, as a client made with a storage's name builds the URL.
    dataset = client.dataset(dataset_id).get()
    assert dataset is not None and dataset.name
    by_name = client.dataset(f"{dataset.username}~{dataset.name}").create_items_public_url()
    assert f"~{dataset.name}/items" in by_name and _get(by_name).json() == ITEMS


def test_bad_expired_and_foreign_signatures_are_refused(
    stack: Stack, filled: tuple[ApifyClient, str, str]
) -> None:
    client, dataset_id, store_id = filled
    items_url = client.dataset(dataset_id).create_items_public_url()
    good = _signature(items_url)
    tampered = good[:-3] + ("AAA" if good[-3:] != "AAA" else "BBB")
    _refused(_get(_with_signature(items_url, tampered)), "dataset")
    _refused(_get(_with_signature(items_url, "not-a-signature")), "dataset")

    other = client.datasets().get_or_create(name=f"ds-other-{uuid.uuid4().hex[:8]}")
    other_url = client.dataset(other.id).create_items_public_url()
    _refused(_get(_with_signature(items_url, _signature(other_url))), "dataset")  # another dataset's
    assert _get(other_url).json() == []  # which opens its own

    dataset = client.dataset(dataset_id).get()
    assert dataset is not None and dataset.url_signing_secret_key
    past = int(time.time() * 1000) - 1000
    expired = storage_signature(dataset_id, dataset.url_signing_secret_key, past)
    _refused(_get(_with_signature(items_url, expired)), "dataset")
    # A signature of the dataset's own id with the store's key, and the store's own signature.
    store = client.key_value_store(store_id).get()
    assert store is not None and store.url_signing_secret_key
    _refused(
        _get(_with_signature(items_url, storage_signature(dataset_id, store.url_signing_secret_key))),
        "dataset",
    )
    _refused(
        _get(_with_signature(items_url, storage_signature(store_id, store.url_signing_secret_key))), "dataset"
    )

    kvs = client.key_value_store(store_id)
    keys_url = kvs.create_keys_public_url()
    record_url = kvs.get_record_public_url("a-key")
    # A record's signature opens that record only: not another record, not the key list.
    _refused(
        _get(_with_signature(kvs.get_record_public_url("other"), _signature(record_url))), "key-value store"
    )
    _refused(_get(_with_signature(keys_url, _signature(record_url))), "key-value store")
    # A storage signature is not a record's.
    _refused(_get(_with_signature(record_url, _signature(keys_url))), "key-value store")
    expired_keys = storage_signature(store_id, store.url_signing_secret_key, past)
    _refused(_get(_with_signature(keys_url, expired_keys)), "key-value store")
    # A missing storage is still 404; no signature and no token is still 401.
    missing = _get(f"{stack.url}/v2/datasets/NoSuchDatasetXYZ1/items", signature=good)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "record-not-found"
    assert _get(f"{stack.url}/v2/datasets/{dataset_id}/items").status_code == 401


def test_tokens_with_signatures(
    stack: Stack, account: Account, db: SyncDatabase, filled: tuple[ApifyClient, str, str]
) -> None:
    """The owner's token opens whatever the signature; another user's needs a good signature, as
    the clients' list_items(signature=) on someone else's dataset."""
    client, dataset_id, store_id = filled
    items_url = client.dataset(dataset_id).create_items_public_url()
    bad = _with_signature(items_url, "bad")
    owner = httpx.get(bad, headers={"Authorization": f"Bearer {account.token}"})
    assert owner.status_code == 200 and owner.json() == ITEMS

    stranger = _client(stack, _other(db))
    assert stranger.dataset(dataset_id).list_items(signature=_signature(items_url)).items == ITEMS
    _refused(httpx.get(bad, headers={"Authorization": f"Bearer {stranger.token}"}), "dataset")
    kvs = client.key_value_store(store_id)
    keys = stranger.key_value_store(store_id).list_keys(signature=_signature(kvs.create_keys_public_url()))
    assert [k.key for k in keys.items] == ["a-key", "other"]
    record_signature = _signature(kvs.get_record_public_url("a-key"))
    record = stranger.key_value_store(store_id).get_record("a-key", signature=record_signature)
    assert record is not None and record["value"] == {"hello": "world"}
    # Without a signature another user's storage is not found, as before.
    assert stranger.dataset(dataset_id).get() is None


def test_a_signature_never_opens_a_write(
    stack: Stack, account: Account, db: SyncDatabase, filled: tuple[ApifyClient, str, str]
) -> None:
    client, dataset_id, store_id = filled
    kvs = client.key_value_store(store_id)
    items_sig = _signature(client.dataset(dataset_id).create_items_public_url())
    keys_sig = _signature(kvs.create_keys_public_url())
    record_sig = _signature(kvs.get_record_public_url("a-key"))
    base = f"{stack.url}/v2"
    writes = [
        ("POST", f"{base}/datasets/{dataset_id}/items", items_sig, b'[{"n": 9}]'),
        ("PUT", f"{base}/datasets/{dataset_id}", items_sig, b'{"name": "stolen"}'),
        ("DELETE", f"{base}/datasets/{dataset_id}", items_sig, b""),
        ("PUT", f"{base}/key-value-stores/{store_id}/records/a-key", record_sig, b'{"x": 1}'),
        ("POST", f"{base}/key-value-stores/{store_id}/records/a-key", record_sig, b'{"x": 1}'),
        ("DELETE", f"{base}/key-value-stores/{store_id}/records/a-key", record_sig, b""),
        ("PUT", f"{base}/key-value-stores/{store_id}/records/new", keys_sig, b'{"x": 1}'),
        ("PUT", f"{base}/key-value-stores/{store_id}", keys_sig, b'{"name": "stolen"}'),
        ("DELETE", f"{base}/key-value-stores/{store_id}", keys_sig, b""),
    ]
    stranger = _other(db)
    for method, url, signature, body in writes:
        headers = {"Content-Type": "application/json"}
        alone = httpx.request(method, url, params={"signature": signature}, content=body, headers=headers)
        assert alone.status_code == 401, (method, url, alone.text)
        headers["Authorization"] = f"Bearer {stranger.token}"
        with_token = httpx.request(
            method, url, params={"signature": signature}, content=body, headers=headers
        )
        assert with_token.status_code == 404, (method, url, with_token.text)
    # Nothing changed.
    assert client.dataset(dataset_id).list_items().items == ITEMS
    assert [k.key for k in kvs.list_keys().items] == ["a-key", "other"]
    record = kvs.get_record("a-key")
    assert record is not None and record["value"] == {"hello": "world"}
    dataset = client.dataset(dataset_id).get()
    assert dataset is not None and dataset.name != "stolen"


def test_public_urls_are_on_the_public_base_url() -> None:
    """GREENROOM_PUBLIC_BASE_URL (not the host and port the API listens on) starts every public URL."""
    settings = Settings.from_env({"GREENROOM_PUBLIC_BASE_URL": "https://greenroom.example.com/"})
    base = settings.api_base_url
    user = User(id="U" * 17, username="someone")
    dataset = Dataset(id="D" * 17, user_id=user.id, item_count=0, url_signing_secret_key="k" * 32)
    store = KeyValueStore(id="K" * 17, user_id=user.id, url_signing_secret_key="s" * 32)
    shown = dataset_json(dataset, user, base) | key_value_store_with_stats_json(store, user, base, 0)
    for field in ("itemsPublicUrl", "keysPublicUrl", "recordsPublicUrl", "consoleUrl"):
        assert shown[field].startswith("https://greenroom.example.com/v2/"), shown[field]
    now = int(time.time() * 1000)
    items_signature = _signature(dataset_json(dataset, user, base)["itemsPublicUrl"])
    assert storage_signature_valid(items_signature, dataset.id, "k" * 32, now + 13 * 24 * 3600 * 1000)
    assert not storage_signature_valid(items_signature, dataset.id, "k" * 32, now + 15 * 24 * 3600 * 1000)
    unsigned = KeyValueStore(id="K" * 17, user_id=user.id, url_signing_secret_key=None)
    assert "?" not in key_value_store_with_stats_json(unsigned, user, base, 0)["keysPublicUrl"]


def test_a_runs_default_storages_are_signed(stack: Stack, account: Account) -> None:
    """Runs write their default storages with Core inserts: they get signing keys all the same."""
    client = _client(stack, account)
    actor = client.actors().create(
        name=f"signed-{uuid.uuid4().hex[:8]}",
        versions=[{"versionNumber": "0.0", "sourceType": "PYTHON_CALLABLE", "callable": "tests.actors:echo"}],
    )
    run = client.actor(actor.id).call(run_input={"x": 1}, wait_duration=timedelta(seconds=60))
    assert run is not None and run.status == "SUCCEEDED"
    items_url = client.dataset(run.default_dataset_id).create_items_public_url()
    assert "signature=" in items_url and _get(items_url).json() == [{"seen": {"x": 1}}]
    output_url = client.key_value_store(run.default_key_value_store_id).get_record_public_url("OUTPUT")
    assert "signature=" in output_url and _get(output_url).json() == {"input": {"x": 1}}

    # The run's own routes to them take the same signatures (Apify's spec lists `signature` there).
    runs = f"{stack.url}/v2/actor-runs/{run.id}"
    items = _get(f"{runs}/dataset/items", signature=_signature(items_url))
    assert items.status_code == 200 and items.json() == [{"seen": {"x": 1}}]
    keys_url = client.key_value_store(run.default_key_value_store_id).create_keys_public_url()
    keys = _get(f"{runs}/key-value-store/keys", signature=_signature(keys_url))
    assert keys.status_code == 200 and "OUTPUT" in [k["key"] for k in keys.json()["data"]["items"]]
    output = _get(f"{runs}/key-value-store/records/OUTPUT", signature=_signature(output_url))
    assert output.status_code == 200 and output.json() == {"input": {"x": 1}}
    _refused(_get(f"{runs}/dataset/items", signature=_signature(keys_url)), "dataset")
    _refused(
        _get(f"{runs}/key-value-store/records/INPUT", signature=_signature(output_url)), "key-value store"
    )
    missing = _get(f"{stack.url}/v2/actor-runs/NoSuchRun00000001/dataset/items", signature="x")
    assert missing.status_code == 404
    pushed = httpx.post(f"{runs}/dataset/items", params={"signature": _signature(items_url)}, json=[{"n": 1}])
    assert pushed.status_code == 401
    assert _get(items_url).json() == [{"seen": {"x": 1}}]
