"""The environment an actor process gets: Apify's variables under both their ACTOR_* and APIFY_* names."""

from __future__ import annotations

import json
import os
import socket
from datetime import timedelta

from server.secrets import env_var_value
from server.settings import Settings
from server.standby.config import STANDBY_ORIGIN, standby_url
from server.storage.ids import iso, utcnow
from worker.proxy.passwords import run_password
from worker.runners.base import RunSpec
from worker.usage import available_cpus

# Passed through from the worker's own environment; everything else (database URLs...) stays out.
_PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def actor_env(
    spec: RunSpec, settings: Settings, events_url: str = "", web_port: int | None = None
) -> dict[str, str]:
    """Apify's variables for one run; events_url only when a server is listening there; `web_port`
    the port its web server is to listen on (a standby run's, worker/standby_server.py)."""
    env = {k: v for k, v in os.environ.items() if k in _PASS_THROUGH}
    # stdout into a pipe is block-buffered in Python: a print() would reach the run log (and its
    # streams) only at exit. Apify's Python images set this too; a version env var may override it.
    env["PYTHONUNBUFFERED"] = "1"
    for var in spec.source.get("envVars") or []:
        env[var["name"]] = env_var_value(settings.secrets_key, var)  # a secret is opened here only
    memory = str(spec.options["memoryMbytes"])
    timeout_at = ""
    if spec.timeout_s is not None:
        # From now, not from startedAt: a resurrected run gets its whole timeout again.
        timeout_at = iso(utcnow() + timedelta(seconds=spec.timeout_s)) or ""
    storages = {
        "keyValueStores": {"default": spec.default_key_value_store_id},
        "datasets": {"default": spec.default_dataset_id},
        "requestQueues": {"default": spec.default_request_queue_id},
    }
    # A port of its own per run: Apify's default (4321) would collide between concurrent runs. The
    # URL is the worker host's loopback: Greenroom proxies only standby runs' web servers.
    web_port_text = str(web_port or _free_port())
    pairs = {
        ("ACTOR_RUN_ID", "APIFY_ACTOR_RUN_ID", "APIFY_ACT_RUN_ID"): spec.run_id,
        ("ACTOR_ID", "APIFY_ACTOR_ID", "APIFY_ACT_ID"): spec.act_id,
        ("ACTOR_TASK_ID", "APIFY_ACTOR_TASK_ID"): spec.actor_task_id or "",
        ("ACTOR_BUILD_ID", "APIFY_ACTOR_BUILD_ID"): spec.build_id,
        ("ACTOR_BUILD_NUMBER", "APIFY_ACTOR_BUILD_NUMBER"): spec.build_number,
        ("ACTOR_BUILD_TAGS",): ",".join(spec.build_tags),
        (
            "ACTOR_DEFAULT_KEY_VALUE_STORE_ID",
            "APIFY_DEFAULT_KEY_VALUE_STORE_ID",
        ): spec.default_key_value_store_id,
        ("ACTOR_DEFAULT_DATASET_ID", "APIFY_DEFAULT_DATASET_ID"): spec.default_dataset_id,
        ("ACTOR_DEFAULT_REQUEST_QUEUE_ID", "APIFY_DEFAULT_REQUEST_QUEUE_ID"): spec.default_request_queue_id,
        ("ACTOR_INPUT_KEY", "APIFY_INPUT_KEY"): spec.input_key,
        ("ACTOR_MEMORY_MBYTES", "APIFY_MEMORY_MBYTES"): memory,
        ("ACTOR_STARTED_AT", "APIFY_STARTED_AT"): spec.started_at,
        ("ACTOR_TIMEOUT_AT", "APIFY_TIMEOUT_AT"): timeout_at,
        ("ACTOR_FULL_NAME",): f"{spec.username}/{spec.actor_name}",
        # The run's token acts as its user, everywhere: Apify's full permissions.
        ("ACTOR_PERMISSION_LEVEL",): "FULL_PERMISSIONS",
        ("ACTOR_WEB_SERVER_PORT", "APIFY_CONTAINER_PORT"): web_port_text,
        ("ACTOR_WEB_SERVER_URL", "APIFY_CONTAINER_URL"): f"http://127.0.0.1:{web_port_text}",
        ("ACTOR_STORAGES_JSON",): json.dumps(storages),
        ("ACTOR_RESTART_ON_ERROR",): "1" if spec.options.get("restartOnError") else "0",
        # The SDK reads '' as unset for these two.
        ("ACTOR_MAX_PAID_DATASET_ITEMS",): str(spec.options.get("maxItems") or ""),
        ("ACTOR_MAX_TOTAL_CHARGE_USD",): str(spec.options.get("maxTotalChargeUsd") or ""),
        # As the platform sets them ({} = no pricing): with both, the SDKs read no run at start.
        ("APIFY_ACTOR_PRICING_INFO",): json.dumps(spec.pricing_info or {}),
        ("APIFY_CHARGED_ACTOR_EVENT_COUNTS",): json.dumps(spec.charged_event_counts),
        ("APIFY_TOKEN",): spec.token,
        ("APIFY_API_BASE_URL",): settings.actor_api_base_url,
        ("APIFY_API_PUBLIC_BASE_URL",): settings.api_base_url,
        ("APIFY_IS_AT_HOME",): "1",
        ("APIFY_USER_ID",): spec.user_id,
        ("APIFY_HEADLESS",): "1",
        ("APIFY_META_ORIGIN",): spec.origin,
        # The cores the actor may use; systemInfo's CPU usage is a percent of one core.
        ("APIFY_DEDICATED_CPUS",): str(available_cpus()),
        ("APIFY_PERSIST_STATE_INTERVAL_MILLIS",): str(round(settings.persist_state_interval_s * 1000)),
    }
    if spec.origin == STANDBY_ORIGIN:
        # The JS SDK's standbyPort; the URL is the actor's, where callers reach it through the API.
        pairs[("ACTOR_STANDBY_PORT",)] = web_port_text
        pairs[("ACTOR_STANDBY_URL",)] = standby_url(settings, spec.username, spec.actor_name)
    if events_url:
        pairs[("ACTOR_EVENTS_WEBSOCKET_URL", "APIFY_ACTOR_EVENTS_WS_URL")] = events_url
    if settings.proxy_port:
        # Apify Proxy (worker/proxy/): the status page is the proxy's own address, asked through it.
        proxy_address = f"{settings.proxy_actor_hostname}:{settings.proxy_port}"
        pairs[("APIFY_PROXY_HOSTNAME",)] = settings.proxy_actor_hostname
        pairs[("APIFY_PROXY_PORT",)] = str(settings.proxy_port)
        pairs[("APIFY_PROXY_PASSWORD",)] = run_password(spec.run_id, spec.token)
        pairs[("APIFY_PROXY_STATUS_URL",)] = f"http://{proxy_address}"
    for names, value in pairs.items():
        for name in names:
            env[name] = value
    return env
