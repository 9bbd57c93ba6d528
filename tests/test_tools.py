"""/v2/tools/encode-and-sign, /v2/tools/decode-and-verify and /v2/browser-info on a real Greenroom."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid

import httpx
import pytest

from server.encoded_values import BadSignature, NotEncoded, decode, encode
from server.storage.db import SyncDatabase
from server.storage.models import ApiToken, User
from server.users import create_user
from tests.conftest import Account
from tests.npm import JS_DIR, NODE
from tests.stack import Stack

VALUE = {"text": "žluť", "list": [1, {"deep": None}], "ok": True}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_encode_and_decode_round_trip(stack: Stack, account: Account, api: httpx.Client) -> None:
    encoded = api.post("/tools/encode-and-sign", json=VALUE)
    assert encoded.status_code == 200, encoded.text
    value = encoded.json()["data"]["encoded"]
    # Anyone may decode (no token), and learns who encoded it.
    decoded = httpx.post(f"{stack.url}/v2/tools/decode-and-verify", json={"encoded": value})
    assert decoded.status_code == 200, decoded.text
    assert decoded.json()["data"] == {
        "decoded": VALUE,
        "encodedByUserId": account.user_id,
        "isVerifiedUser": True,
    }


def test_changed_or_foreign_values_are_refused(stack: Stack, api: httpx.Client) -> None:
    value = api.post("/tools/encode-and-sign", json=VALUE).json()["data"]["encoded"]
    meta, data, signature = value.split(".")
    decode_url = f"{stack.url}/v2/tools/decode-and-verify"
    other_data = _b64(json.dumps({"text": "changed"}).encode())
    other_user = _b64(json.dumps({"u": "SomeoneElse000001", "v": 1}).encode())
    for changed in (f"{meta}.{other_data}.{signature}", f"{other_user}.{data}.{signature}"):
        r = httpx.post(decode_url, json={"encoded": changed})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid-signature", r.text
    # Signed with another key (another deployment's).
    foreign = encode(VALUE, "U" * 17, b"k" * 32)
    r = httpx.post(decode_url, json={"encoded": foreign})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid-signature"
    for garbage in ("", "a.b", "!!.??.##", "a.b.c.d", 5, None):
        r = httpx.post(decode_url, json={"encoded": garbage})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid-input", (garbage, r.text)


def test_encode_needs_a_token_and_an_object(stack: Stack, api: httpx.Client) -> None:
    r = httpx.post(f"{stack.url}/v2/tools/encode-and-sign", json=VALUE)
    assert r.status_code == 401 and r.json()["error"]["type"] == "token-not-provided"
    for body in (b"[1]", b"not json", b"3"):
        r = api.post("/tools/encode-and-sign", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text


def test_a_deleted_user_is_not_verified(stack: Stack, db: SyncDatabase) -> None:
    """isVerifiedUser says whether the encoding user is (still) a user of this Greenroom."""
    user, token = create_user(db, f"gone{uuid.uuid4().hex[:10]}")
    headers = {"Authorization": f"Bearer {token}"}
    value = httpx.post(f"{stack.url}/v2/tools/encode-and-sign", json={"a": 1}, headers=headers)
    encoded = value.json()["data"]["encoded"]
    with db.transaction() as session:
        session.query(ApiToken).filter(ApiToken.user_id == user.id).delete()
        session.query(User).filter(User.id == user.id).delete()
    r = httpx.post(f"{stack.url}/v2/tools/decode-and-verify", json={"encoded": encoded})
    assert r.json()["data"] == {"decoded": {"a": 1}, "encodedByUserId": user.id, "isVerifiedUser": False}


def test_the_format_is_apifys() -> None:
    """Apify's own CodeHashManager (@apify/utilities, in tests/js) reads what Greenroom encodes."""
    if NODE is None or not (JS_DIR / "node_modules" / "@apify" / "utilities").is_dir():
        pytest.skip("node or tests/js/node_modules (npm ci) is missing")
    secret = "a shared secret"
    encoded = encode(VALUE, "UserId00000000001", secret.encode())
    script = (
        "const { CodeHashManager } = require('@apify/utilities');"
        f"const m = new CodeHashManager({json.dumps(secret)});"
        f"const d = m.decode({json.dumps(encoded)});"
        f"const again = m.encode(d.data, d.meta.userId);"
        "console.log(JSON.stringify({ d, again }));"
    )
    done = subprocess.run(
        [NODE, "-e", script], cwd=JS_DIR, capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["d"]["data"] == VALUE
    assert seen["d"]["meta"] == {"userId": "UserId00000000001", "version": 1, "isSignatureValid": True}
    assert decode(seen["again"], secret.encode()).value == VALUE  # and Greenroom reads what it encodes
    with pytest.raises(BadSignature):
        decode(seen["again"], b"another secret")
    with pytest.raises(NotEncoded):
        decode("x.y", secret.encode())


def test_browser_info_echoes_the_request(stack: Stack) -> None:
    url = f"{stack.url}/v2/browser-info"
    for method in ("GET", "POST", "PUT", "DELETE"):
        body = b'{"hello": 1}' if method in ("POST", "PUT") else b""
        r = httpx.request(method, url, content=body, headers={"X-Probe": "p1"})
        assert r.status_code == 200, r.text
        info = r.json()
        assert info["method"] == method and info["bodyLength"] == len(body)
        assert info["clientIp"] == "127.0.0.1" and info["countryCode"] is None
        assert info["headers"]["x-probe"] == "p1" and "rawHeaders" not in info
    info = httpx.get(url, params={"skipHeaders": "true", "rawHeaders": "1"}, headers={"X-Probe": "p2"}).json()
    assert "headers" not in info
    raw = info["rawHeaders"]
    assert raw[raw.index("x-probe") + 1] == "p2"
    r = httpx.get(url, params={"skipHeaders": "maybe"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid-input"
