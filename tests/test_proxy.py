"""Apify Proxy on Greenroom (worker/proxy/): the process every worker pool starts, spoken to as the
SDKs speak to it, and a process actor that uses it through the variables its run gets."""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from server.settings import Settings
from server.storage.db import SyncDatabase
from server.storage.ids import hash_token, new_id, new_token
from server.storage.models import ApiToken
from server.users import create_user
from tests.actors import files_actor
from tests.conftest import Account
from tests.proxy_helpers import (
    PAGE,
    fake_upstream,
    hold_tunnel,
    own_proxy,
    proxy_client,
    serving_site,
    tunnel_get,
)
from tests.stack import Stack
from worker.proxy.passwords import run_password


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serving_site() as host:
        yield host


@pytest.fixture
def password(api: httpx.Client) -> str:
    return str(api.get("/users/me").json()["data"]["proxy"]["password"])


def test_users_me_has_the_proxy_password_and_groups(api: httpx.Client, stack: Stack) -> None:
    me = api.get("/users/me").json()["data"]
    assert me["proxy"]["groups"] == []
    assert len(me["proxy"]["password"]) == 24 and me["proxy"]["password"].isalnum()
    assert api.get("/users/me").json()["data"]["proxy"]["password"] == me["proxy"]["password"]  # stored


def test_plain_http_and_connect_with_the_users_password(stack: Stack, site: str, password: str) -> None:
    port = stack.settings.proxy_port
    with proxy_client(port, "auto", password) as client:
        assert client.get(f"http://{site}/").content == PAGE
        assert client.post(f"http://{site}/echo", content=b"a body").content == b"a body"
        continued = client.post(f"http://{site}/echo", content=b"more", headers={"Expect": "100-continue"})
        assert continued.status_code == 200 and continued.content == b"more"
        # The site never sees the proxy's credentials, and gets one request per connection.
        headers = client.get(f"http://{site}/headers").json()
        assert "Proxy-Authorization" not in headers and headers["Connection"] == "close"
    assert tunnel_get(port, "auto", password, site) == (200, PAGE)
    assert tunnel_get(port, "session-abc_1.x~y,country-US", password, site) == (200, PAGE)


def test_wrong_missing_and_forged_passwords_are_refused(
    api: httpx.Client, stack: Stack, site: str, password: str
) -> None:
    port = stack.settings.proxy_port
    for username, wrong in (("auto", "wrong"), ("auto", ""), ("auto", password[:-1] + "!")):
        with proxy_client(port, username, wrong) as client:
            refused = client.get(f"http://{site}/")
        assert refused.status_code == 407, refused.text
        assert refused.headers["Proxy-Authenticate"] == 'Basic realm="Greenroom Proxy"'
        assert tunnel_get(port, username, wrong, site)[0] == 407
    with httpx.Client(proxy=f"http://127.0.0.1:{port}", trust_env=False) as anonymous:
        assert anonymous.get(f"http://{site}/").status_code == 407
    with proxy_client(port, "bad-option", password) as client:
        assert client.get(f"http://{site}/").status_code == 407
    with proxy_client(port, "groups-NOPE", password) as client:
        assert client.get(f"http://{site}/").status_code == 407


def status(port: int, username: str, password: str) -> dict[str, Any]:
    """The status page as the SDKs fetch it: `<APIFY_PROXY_STATUS_URL>/?format=json`, through the proxy."""
    with proxy_client(port, username, password) as client:
        answer = client.get(f"http://127.0.0.1:{port}/?format=json")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    return dict(answer.json())


def test_the_status_page_as_the_sdks_read_it(stack: Stack, password: str) -> None:
    port = stack.settings.proxy_port
    ok = status(port, "auto", password)
    assert ok["connected"] is True and ok["connectionError"] is None and ok["isManInTheMiddle"] is False
    wrong = status(port, "auto", "wrong")
    assert wrong["connected"] is False and "password" in wrong["connectionError"]
    group = status(port, "groups-RESIDENTIAL", password)
    assert group["connected"] is False and "RESIDENTIAL" in group["connectionError"]
    # Asked directly, not through the proxy (as Apify's page does).
    direct = httpx.get(f"http://127.0.0.1:{port}/?format=json", trust_env=False).json()
    assert direct["connected"] is False
    # A client that tunnels plain HTTP too gets it inside the tunnel.
    code, body = tunnel_get(port, "auto", password, f"127.0.0.1:{port}", "/?format=json")
    assert code == 200 and json.loads(body)["connected"] is True


def test_redis_and_the_database_are_denied_to_the_proxy(stack: Stack, password: str) -> None:
    """The proxy runs outside the sandbox: it refuses what the sandbox's nftables rule refuses."""
    services = [urlsplit(stack.settings.redis_url), urlsplit(stack.settings.sql_url)]
    tcp = [f"{url.hostname}:{url.port or 5432}" for url in services if url.hostname]
    if not tcp:
        pytest.skip("Redis and the database are not on TCP here")
    for address in tcp + ["0.0.0.0:" + address.rpartition(":")[2] for address in tcp]:
        assert tunnel_get(stack.settings.proxy_port, "auto", password, address)[0] == 403, address


@pytest.fixture
def grouped_proxy(
    settings: Settings, tmp_path: Path, site: str
) -> Iterator[tuple[Settings, Path, list[Any]]]:
    """A proxy of its own with two upstreams in group DC and one in group RES; the site's port denied
    when asked for as 127.0.0.2 (the same site, another address)."""
    log = tmp_path / "proxy.log"
    with (
        fake_upstream("dc-1", "u1:p1") as dc1,
        fake_upstream("dc-2", "u2:p 2") as dc2,  # in the URL as p%202, sent decoded
        fake_upstream("res-1", "u3:p3") as res1,
    ):
        groups = (("DC", (dc1.url, dc2.url)), ("RES", (res1.url,)))
        port = site.rpartition(":")[2]
        with own_proxy(settings, log, proxy_groups=groups, proxy_deny=(f"127.0.0.2:{port}",)) as own:
            yield own, log, [dc1, dc2, res1]


def test_upstreams_per_group_and_sticky_sessions(
    grouped_proxy: tuple[Settings, Path, list[Any]],
    site: str,
    password: str,
    account: Account,
    api: httpx.Client,
) -> None:
    own, log, (dc1, dc2, res1) = grouped_proxy
    port = own.proxy_port
    me = api.get("/users/me").json()["data"]
    assert me["proxy"]["groups"] == []  # the API's settings have no groups; this proxy's do

    def via(username: str) -> str:
        with proxy_client(port, username, password) as client:
            return client.get(f"http://{site}/").text

    assert via("auto") == PAGE.decode()  # no groups: direct
    assert via("groups-RES") == "res-1"
    for session in ("a", "b", "c", "d", "e", "f"):
        first = via(f"groups-DC,session-{session}")
        assert all(via(f"groups-DC,session-{session}") == first for _ in range(3))
        assert tunnel_get(port, f"groups-DC,session-{session}", password, site)[1].decode() == first
    assert {via("groups-DC") for _ in range(4)} == {"dc-1", "dc-2"}  # no session: they take turns
    assert {via(f"groups-DC+RES,session-s{n}") for n in range(20)} == {"dc-1", "dc-2", "res-1"}
    # Each upstream got its own credentials, never the user's password, and the absolute URL.
    for upstream in (dc1, dc2, res1):
        assert upstream.seen and all(password not in str(seen) for seen in upstream.seen)
    assert any(line.startswith(f"GET http://{site}/") for line, _ in dc1.seen + dc2.seen)
    assert any(line.startswith(f"CONNECT {site}") for line, _ in dc1.seen + dc2.seen)
    # The operator's deny list holds through the proxy, whatever the route.
    denied = f"127.0.0.2:{site.rpartition(':')[2]}"
    assert tunnel_get(port, "auto", password, denied)[0] == 403
    assert tunnel_get(port, "groups-DC", password, denied)[0] == 403
    with proxy_client(port, "auto", password) as client:
        assert client.get(f"http://{denied}/").status_code == 403
    # One log line per connection, naming whose traffic it was.
    lines = log.read_text().splitlines()
    assert any(f"user {account.user_id}: GET {site} via direct: 200" in line for line in lines)
    assert any(f"user {account.user_id}: CONNECT {denied} via direct: 403" in line for line in lines)


def test_a_runs_connections_and_bytes_are_bounded(
    settings: Settings, tmp_path: Path, site: str, password: str
) -> None:
    with own_proxy(
        settings, tmp_path / "proxy.log", proxy_max_bytes_per_run=100_000, proxy_max_connections_per_run=2
    ) as own:
        held = [hold_tunnel(own.proxy_port, password, site) for _ in range(3)]
        assert [line for _, line in held] == [b"HTTP/1.1 200 Connection established"] * 2 + [
            b"HTTP/1.1 429 Too Many Requests"
        ]
        for sock, _ in held:
            sock.close()
        time.sleep(0.2)  # the proxy sees them closed
        with proxy_client(own.proxy_port, "auto", password) as client:
            with pytest.raises(httpx.RemoteProtocolError):  # cut off at the limit
                client.get(f"http://{site}/big?n=300000")
            over = client.get(f"http://{site}/")
        assert over.status_code == 429 and "byte limit" in over.text


ACTOR = """\
import json, os, urllib.request
env = {k: v for k, v in os.environ.items() if k.startswith("APIFY_PROXY_")}
inp = json.load(urllib.request.urlopen(urllib.request.Request(
    f"{os.environ['APIFY_API_BASE_URL']}/v2/key-value-stores/{os.environ['ACTOR_DEFAULT_KEY_VALUE_STORE_ID']}"
    "/records/INPUT", headers={"Authorization": "Bearer " + os.environ["APIFY_TOKEN"]})))
out = {"env": env}
if inp.get("fetch"):
    proxy = f"http://auto:{env['APIFY_PROXY_PASSWORD']}@{env['APIFY_PROXY_HOSTNAME']}:{env['APIFY_PROXY_PORT']}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
    out["page"] = opener.open(inp["url"]).read().decode()
    out["status"] = json.load(opener.open(env["APIFY_PROXY_STATUS_URL"] + "/?format=json"))
url = (f"{os.environ['APIFY_API_BASE_URL']}/v2/key-value-stores/"
       f"{os.environ['ACTOR_DEFAULT_KEY_VALUE_STORE_ID']}/records/OUTPUT")
urllib.request.urlopen(urllib.request.Request(url, data=json.dumps(out).encode(), method="PUT", headers={
    "Authorization": "Bearer " + os.environ["APIFY_TOKEN"], "Content-Type": "application/json"})).close()
"""


def test_a_process_actor_uses_the_proxy_with_its_runs_password(
    api: httpx.Client, stack: Stack, site: str, password: str
) -> None:
    actor = api.post("/acts", json=files_actor("proxied", {"main.py": ACTOR})).json()["data"]
    answer = api.post(f"/acts/{actor['id']}/run-sync", json={"fetch": True, "url": f"http://{site}/"})
    assert answer.status_code == 201, answer.text
    out = answer.json()
    port = stack.settings.proxy_port
    assert out["env"] == {
        "APIFY_PROXY_HOSTNAME": "127.0.0.1",
        "APIFY_PROXY_PORT": str(port),
        "APIFY_PROXY_PASSWORD": out["env"]["APIFY_PROXY_PASSWORD"],
        "APIFY_PROXY_STATUS_URL": f"http://127.0.0.1:{port}",
    }
    run_password = out["env"]["APIFY_PROXY_PASSWORD"]
    assert run_password != password and run_password.isalnum()
    assert out["page"] == PAGE.decode() and out["status"]["connected"] is True
    # A run's password ends with its run (this one was never used, so nothing kept it a moment longer).
    quiet = api.post(f"/acts/{actor['id']}/run-sync", json={"fetch": False}).json()
    ended = quiet["env"]["APIFY_PROXY_PASSWORD"]
    assert tunnel_get(port, "auto", ended, site)[0] == 407
    # Another run's id with this MAC is not a password.
    assert tunnel_get(port, "auto", run_password[:17].swapcase() + ended[17:], site)[0] == 407


def test_a_malformed_request_is_400(stack: Stack, site: str, password: str) -> None:
    auth = base64.b64encode(f"auto:{password}".encode()).decode()
    for request in (
        f"GET http://{site}/ HTTP/1.1\r\nX-Smuggled: a\nProxy-Authorization: Basic {auth}\r\n\r\n",
        f"GET https://{site}/ HTTP/1.1\r\nProxy-Authorization: Basic {auth}\r\n\r\n",
        f"CONNECT {site.partition(':')[0]} HTTP/1.1\r\nProxy-Authorization: Basic {auth}\r\n\r\n",
        "NONSENSE\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", stack.settings.proxy_port), timeout=10) as sock:
            sock.sendall(request.encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 400 "), request


def test_without_its_database_the_proxy_answers_503(settings: Settings, tmp_path: Path, site: str) -> None:
    gone = "postgresql://nobody:nothing@127.0.0.1:9/none"  # nothing listens on port 9
    with own_proxy(settings, tmp_path / "proxy.log", database_url=gone) as own:
        with proxy_client(own.proxy_port, "auto", "x" * 24) as client:
            assert client.get(f"http://{site}/").status_code == 503
        assert tunnel_get(own.proxy_port, "auto", "x" * 24, site)[0] == 503  # and it still serves


def test_a_run_password_opens_the_proxy_only_as_its_own_run(
    stack: Stack, db: SyncDatabase, account: Account, site: str
) -> None:
    """Two users' live runs (their tokens as the worker writes them): each run's password works, and
    neither run's MAC works with the other run's id."""
    other, _ = create_user(db, f"u{uuid.uuid4().hex[:12]}")
    runs = {}
    with db.transaction() as session:
        for user_id in (account.user_id, other.id):
            run_id, token = new_id(), new_token()
            session.add(ApiToken(user_id=user_id, token_hash=hash_token(token), run_id=run_id))
            runs[user_id] = run_password(run_id, token)
    mine, theirs = runs[account.user_id], runs[other.id]
    port = stack.settings.proxy_port
    assert tunnel_get(port, "auto", mine, site) == tunnel_get(port, "auto", theirs, site) == (200, PAGE)
    assert tunnel_get(port, "auto", mine[:17] + theirs[17:], site)[0] == 407
    assert tunnel_get(port, "auto", theirs[:17] + mine[17:], site)[0] == 407
