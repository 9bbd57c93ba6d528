"""The storages' public URLs, in one place: on the API's public base URL (settings'
`public_base_url`, as the API's clients reach it), signed with the storage's `urlSigningSecretKey`
as Apify signs them, so they open without a token (server/api/signed_reads.py checks them).

Like Apify: `itemsPublicUrl`, `keysPublicUrl` and `recordsPublicUrl` carry a storage signature
valid for 14 days from when they were shown; a record's `recordPublicUrl` carries the record's
signature, which does not expire. A storage without a key (none is made for it) gets plain URLs.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

from server.signatures import PUBLIC_URL_VALIDITY_MS, hmac_signature, storage_signature
from server.storage.models import Dataset, KeyValueStore


def _signed(url: str, signature: str | None) -> str:
    return url if signature is None else f"{url}?{urlencode({'signature': signature})}"


def _for_storage(storage: Dataset | KeyValueStore) -> str | None:
    key = storage.url_signing_secret_key
    if not key:
        return None
    return storage_signature(storage.id, key, int(time.time() * 1000) + PUBLIC_URL_VALIDITY_MS)


def dataset_url(api_base_url: str, dataset_id: str) -> str:
    return f"{api_base_url}/v2/datasets/{dataset_id}"


def key_value_store_url(api_base_url: str, store_id: str) -> str:
    return f"{api_base_url}/v2/key-value-stores/{store_id}"


def items_public_url(api_base_url: str, dataset: Dataset) -> str:
    return _signed(f"{dataset_url(api_base_url, dataset.id)}/items", _for_storage(dataset))


def keys_public_url(api_base_url: str, store: KeyValueStore) -> str:
    return _signed(f"{key_value_store_url(api_base_url, store.id)}/keys", _for_storage(store))


def records_public_url(api_base_url: str, store: KeyValueStore) -> str:
    return _signed(f"{key_value_store_url(api_base_url, store.id)}/records", _for_storage(store))


def record_public_url(api_base_url: str, store: KeyValueStore, key: str) -> str:
    url = f"{key_value_store_url(api_base_url, store.id)}/records/{quote(key, safe='')}"
    secret = store.url_signing_secret_key
    return _signed(url, hmac_signature(secret, key) if secret else None)
