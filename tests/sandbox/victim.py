"""The victim (alice's actor): says it started, waits for the test's GO record, then writes OUTPUT
with what it saw of its secret and its own files."""

import hashlib
import json
import os
import time
import urllib.request
from pathlib import Path

BASE = os.environ["APIFY_API_BASE_URL"]
STORE = os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
HEADERS = {"Authorization": "Bearer " + os.environ["APIFY_TOKEN"], "Content-Type": "application/json"}


def put(key, value):
    url = f"{BASE}/v2/key-value-stores/{STORE}/records/{key}"
    urllib.request.urlopen(
        urllib.request.Request(url, json.dumps(value).encode(), HEADERS, method="PUT")
    ).close()


def exists(key):
    url = f"{BASE}/v2/key-value-stores/{STORE}/records/{key}"
    try:
        urllib.request.urlopen(urllib.request.Request(url, headers=HEADERS)).close()
        return True
    except urllib.error.HTTPError:
        return False


put("STARTED", {"pid": os.getpid()})
deadline = time.monotonic() + 90
while not exists("GO") and time.monotonic() < deadline:
    time.sleep(0.1)
files = hashlib.sha256(Path("main.py").read_bytes()).hexdigest()
put("OUTPUT", {"secret": os.environ.get("ALICE_SECRET"), "main_sha256": files, "went": exists("GO")})
