"""Stdlib-only process actors for the reboot and metamorph tests (tests/test_reboot.py)."""

from __future__ import annotations

# Counts its starts in the record STARTS (each with the environment it saw), then, while it has
# started at most input.reboots times, waits to be rebooted: input.self asks for its own reboot
# over the API first (input.exit: and then exits 0 at once instead of waiting). At last, OUTPUT.
COUNTER_MAIN = """\
import json, os, sys, time, urllib.error, urllib.request as u

base, run_id = os.environ["APIFY_API_BASE_URL"], os.environ["ACTOR_RUN_ID"]
store = os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
auth = {"Authorization": "Bearer " + os.environ["APIFY_TOKEN"]}


def call(method, path, value=None):
    data = None if value is None else json.dumps(value).encode()
    headers = {**auth, "Content-Type": "application/json"}
    try:
        with u.urlopen(u.Request(base + path, data=data, method=method, headers=headers)) as r:
            body = r.read()
            return json.loads(body) if body else None
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


record = f"/v2/key-value-stores/{store}/records/"
run_input = call("GET", record + os.environ["ACTOR_INPUT_KEY"]) or {}
names = ("ACTOR_RUN_ID", "ACTOR_ID", "ACTOR_DEFAULT_DATASET_ID", "ACTOR_INPUT_KEY", "ACTOR_TIMEOUT_AT")
starts = call("GET", record + "STARTS") or []
starts.append({"pid": os.getpid(), "env": {k: os.environ.get(k) for k in names}})
call("PUT", record + "STARTS", starts)
print(f"start {len(starts)}", flush=True)
if len(starts) <= run_input.get("reboots", 0):
    if run_input.get("self"):
        call("POST", f"/v2/actor-runs/{run_id}/reboot")
        if run_input.get("exit"):
            sys.exit(0)
    time.sleep(float(run_input.get("seconds", 60)))
    call("PUT", record + "NOT_REBOOTED", {"start": len(starts)})
call("PUT", record + "OUTPUT", {"starts": len(starts)})
"""

# Metamorphs its run into input.target (build input.build) with input.input as the new input, over the
# API as an SDK does it, then sleeps until it is stopped (AFTER_METAMORPH: it was not).
MORPH_MAIN = """\
import json, os, time, urllib.parse, urllib.request as u

base, run_id = os.environ["APIFY_API_BASE_URL"], os.environ["ACTOR_RUN_ID"]
store = os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
auth = {"Authorization": "Bearer " + os.environ["APIFY_TOKEN"]}
record = f"{base}/v2/key-value-stores/{store}/records/"
with u.urlopen(u.Request(record + os.environ["ACTOR_INPUT_KEY"], headers=auth)) as r:
    run_input = json.load(r)
query = {"targetActorId": run_input["target"]}
if "build" in run_input:
    query["build"] = run_input["build"]
url = f"{base}/v2/actor-runs/{run_id}/metamorph?" + urllib.parse.urlencode(query)
body = json.dumps(run_input["input"]).encode()
headers = {**auth, "Content-Type": "application/json; charset=utf-8"}
u.urlopen(u.Request(url, data=body, method="POST", headers=headers)).close()
time.sleep(60)
u.urlopen(u.Request(record + "AFTER_METAMORPH", data=b"{}", method="PUT", headers=headers)).close()
"""
