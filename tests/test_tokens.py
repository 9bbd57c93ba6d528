"""A user's API tokens through the API (/v2/users/me/tokens) and the console: create with a
description and an expiry, list (never the secret), the last use recorded, revoke; revoked and
expired tokens refused at once; another user's and a run's token kept out."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from server.console.session import csrf_token
from server.storage.db import SyncDatabase
from server.storage.models import User
from tests.actors import files_actor
from tests.conftest import Account
from tests.stack import Stack


def _client(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{stack.url}/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _status(stack: Stack, token: str) -> int:
    return httpx.get(f"{stack.url}/v2/users/me", headers={"Authorization": f"Bearer {token}"}).status_code


def _listed(api: httpx.Client) -> dict[str, dict[str, Any]]:
    page = api.get("/users/me/tokens")
    assert page.status_code == 200, page.text
    return {item["id"]: item for item in page.json()["data"]["items"]}


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def test_create_list_use_and_revoke(stack: Stack, account: Account, api: httpx.Client) -> None:
    made = api.post("/users/me/tokens", json={"description": "CI deploys", "expiresAt": _in(86400)})
    assert made.status_code == 201, made.text
    token = made.json()["data"]
    assert token["token"].startswith("apify_api_") and token["description"] == "CI deploys"
    assert token["expiresAt"].endswith("Z") and token["lastUsedAt"] is None

    listed = _listed(api)
    assert set(listed[token["id"]]) == {"id", "description", "createdAt", "expiresAt", "lastUsedAt"}
    assert token["token"] not in json.dumps(listed)  # the secret is shown once, at creation
    assert listed[token["id"]]["lastUsedAt"] is None

    # A use is recorded, off the request's path: within moments, not at once.
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert _status(stack, token["token"]) == 200
    deadline = time.monotonic() + 10
    while (used := _listed(api)[token["id"]]["lastUsedAt"]) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert used is not None and datetime.fromisoformat(used.replace("Z", "+00:00")) >= before

    # Revoked with the token itself: refused from the very next request.
    with _client(stack, token["token"]) as own:
        assert own.delete(f"/users/me/tokens/{token['id']}").status_code == 204
        gone = own.get("/users/me")
    assert gone.status_code == 401 and gone.json()["error"]["type"] == "user-or-token-not-found"
    assert token["id"] not in _listed(api)
    assert api.delete(f"/users/me/tokens/{token['id']}").json()["error"]["type"] == "record-not-found"
    assert _status(stack, account.token) == 200


def _past(moment: str) -> None:
    left = datetime.fromisoformat(moment.replace("Z", "+00:00")) - datetime.now(UTC)
    time.sleep(max(0.0, left.total_seconds()) + 0.1)


def test_an_expired_token_is_refused_at_once(stack: Stack, api: httpx.Client) -> None:
    made = api.post("/users/me/tokens", json={"expiresAt": _in(1.5)}).json()["data"]
    assert _status(stack, made["token"]) == 200
    _past(made["expiresAt"])
    assert _status(stack, made["token"]) == 401


def _kept(api: httpx.Client) -> dict[str, tuple[Any, ...]]:
    """The tokens as stored, leaving out lastUsedAt (the listing itself is a use)."""
    return {i: (t["description"], t["createdAt"], t["expiresAt"]) for i, t in _listed(api).items()}


def test_bad_token_requests_are_400_and_change_nothing(api: httpx.Client) -> None:
    before = _kept(api)
    for body in (
        {"expiresAt": _in(-60)},
        {"expiresAt": "tomorrow"},
        {"expiresAt": 12},
        {"description": "x" * 201},
        {"description": ["a"]},
    ):
        answer = api.post("/users/me/tokens", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["type"] == "invalid-input"
    assert api.post("/users/me/tokens", content=b"[1]").status_code == 400
    assert _kept(api) == before


def test_another_users_tokens_are_out_of_reach(stack: Stack, api: httpx.Client, db: Any) -> None:
    from server.users import create_user

    _, other = create_user(db, f"tok{time.monotonic_ns() % 10**9}")
    with _client(stack, other) as theirs:
        (their_id,) = _listed(theirs)
        assert their_id not in _listed(api)
        refused = api.delete(f"/users/me/tokens/{their_id}")
        assert refused.status_code == 404 and refused.json()["error"]["type"] == "record-not-found"
        assert list(_listed(theirs)) == [their_id]
    assert _status(stack, other) == 200


# A hostile actor: its run's token tries to mint a token that would outlive the run, to list its
# user's tokens, and to revoke them, through the API and through the console (signing in, or
# sending the console's cookie and a CSRF token computed the console's way).
GRAB_MAIN = """\
import hashlib, hmac, json, os, urllib.error, urllib.request
root = os.environ["APIFY_API_BASE_URL"]
base = root + "/v2"
token = os.environ["APIFY_TOKEN"]
auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
csrf = hmac.new(token.encode(), b"greenroom-console-csrf", hashlib.sha256).hexdigest()
console = {"Cookie": "greenroom_console=" + token, "Content-Type": "application/x-www-form-urlencoded"}
form = {"Content-Type": "application/x-www-form-urlencoded"}
victim = os.environ["VICTIM_TOKEN_ID"]
seen = {}
for name, method, url, body, headers in [
    ("create", "POST", base + "/users/me/tokens", b'{"description": "mine now"}', auth),
    ("list", "GET", base + "/users/me/tokens", None, auth),
    ("revoke", "DELETE", base + "/users/me/tokens/" + victim, None, auth),
    ("console-sign-in", "POST", root + "/sign-in", ("token=" + token).encode(), form),
    ("console-create", "POST", root + "/tokens", ("csrf=" + csrf).encode(), console),
    ("console-revoke", "POST", root + "/tokens/" + victim + "/revoke", ("csrf=" + csrf).encode(), console),
]:
    try:
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        with urllib.request.urlopen(request) as r:
            seen[name] = [r.status, r.read().decode()]
    except urllib.error.HTTPError as exc:
        seen[name] = [exc.code, exc.read().decode()]
out = base + "/key-value-stores/" + os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"] + "/records/OUTPUT"
put = urllib.request.Request(out, data=json.dumps(seen).encode(), method="PUT", headers=auth)
urllib.request.urlopen(put).close()
"""


def test_a_runs_token_cannot_manage_tokens(stack: Stack, api: httpx.Client) -> None:
    victim = api.post("/users/me/tokens", json={"description": "victim"}).json()["data"]
    before = _kept(api)
    env = [{"name": "VICTIM_TOKEN_ID", "value": victim["id"]}]
    actor = api.post("/acts", json=files_actor("token-grab", {"main.py": GRAB_MAIN}, envVars=env))
    assert actor.status_code == 201, actor.text
    answer = api.post(f"/acts/{actor.json()['data']['id']}/run-sync", timeout=120)
    assert answer.status_code == 201, answer.text
    seen = answer.json()
    for name in ("create", "list", "revoke"):
        status, body = seen[name]
        assert status == 403, (name, body)
        assert json.loads(body)["error"]["type"] == "insufficient-permissions"
    # The console takes a run's token for no one: no sign-in, no form.
    assert [seen[name][0] for name in ("console-sign-in", "console-create", "console-revoke")] == [401] * 3
    assert _kept(api) == before and _status(stack, victim["token"]) == 200


def test_the_console_creates_with_a_description_and_signs_out_a_revoked_token(
    stack: Stack, api: httpx.Client, account: Account
) -> None:
    signed_in = api.post("/users/me/tokens", json={"description": "browser"}).json()["data"]
    cookies = {"greenroom_console": signed_in["token"]}
    csrf = {"csrf": csrf_token(signed_in["token"])}
    with httpx.Client(base_url=stack.url, cookies=cookies, follow_redirects=False, timeout=30) as console:
        made = console.post("/tokens", data={**csrf, "description": "from the console", "expires_days": "7"})
        assert made.status_code == 200, made.text
        new = {t["description"]: t for t in _listed(api).values()}["from the console"]
        assert new["expiresAt"] is not None
        assert "from the console" in made.text and "(this browser)" in made.text
        bad = console.post("/tokens", data={**csrf, "expires_days": "-3"})
        assert bad.status_code == 400 and "whole number of days" in bad.text
        revoked = console.post(f"/tokens/{signed_in['id']}/revoke", data=csrf)
        assert revoked.status_code == 303
        assert console.get("/runs").headers["location"].startswith("/sign-in")


def test_the_console_refuses_an_expired_token(stack: Stack, api: httpx.Client) -> None:
    made = api.post("/users/me/tokens", json={"expiresAt": _in(1.5)}).json()["data"]
    with httpx.Client(base_url=stack.url, follow_redirects=False, timeout=30) as console:
        assert console.post("/sign-in", data={"token": made["token"]}).status_code == 303
        assert console.get("/runs").status_code == 200
        _past(made["expiresAt"])
        assert console.get("/runs").headers["location"].startswith("/sign-in")
        assert console.post("/sign-in", data={"token": made["token"]}).status_code == 401


def test_a_change_to_the_users_row_shows_at_their_next_request(
    stack: Stack, account: Account, api: httpx.Client, db: SyncDatabase
) -> None:
    """The API keeps the callers' Users between requests (server/services/accounts.py): a user whose
    row changed is seen as it is now, not as it was."""
    before = api.get("/users/me").json()["data"]["proxy"]["password"]
    assert api.get("/users/me").json()["data"]["proxy"]["password"] == before
    with db.transaction() as session:
        session.execute(update(User).where(User.id == account.user_id).values(proxy_password="changed-now"))
    assert api.get("/users/me").json()["data"]["proxy"]["password"] == "changed-now"
