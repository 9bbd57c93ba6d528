"""Rows to Apify's JSON objects (pure; the API and, later, webhooks render the same shapes)."""

from __future__ import annotations

import json
from typing import Any

from server import public_urls
from server.actor_definition import definition
from server.storage.ids import iso
from server.storage.models import (
    Actor,
    ApiToken,
    Build,
    Dataset,
    KeyValueStore,
    QueueRequest,
    Task,
    User,
)
from server.storage.rows import QueueView, RunView

_STAT_ZEROES = ("inputBodyLen", "migrationCount", "rebootCount", "restartCount", "resurrectCount")


def run_json(run: RunView) -> dict[str, Any]:
    stats = {k: 0 for k in _STAT_ZEROES} | dict(run.stats or {})
    # Counted by the API in their own columns (the worker rewrites `stats` as the run goes).
    stats |= {"rebootCount": run.reboot_count or 0, "metamorph": len(run.metamorphs or [])}
    shown = {
        "id": run.id,
        "actId": run.act_id,
        "userId": run.user_id,
        "actorTaskId": run.actor_task_id,
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
        "status": run.status,
        "statusMessage": run.status_message,
        "isStatusMessageTerminal": run.is_status_message_terminal,
        "meta": _meta(run),
        "stats": stats,
        "options": dict(run.options),
        "buildId": run.build_id,
        "buildNumber": run.build_number,
        "exitCode": run.exit_code,
        "generalAccess": "FOLLOW_USER_SETTING",
        "defaultKeyValueStoreId": run.default_key_value_store_id,
        "defaultDatasetId": run.default_dataset_id,
        "defaultRequestQueueId": run.default_request_queue_id,
        "storageIds": {
            "keyValueStores": {"default": run.default_key_value_store_id},
            "datasets": {"default": run.default_dataset_id},
            "requestQueues": {"default": run.default_request_queue_id},
        },
        "usageTotalUsd": 0.0,
        "metamorphs": list(run.metamorphs or []),
    }
    if run.pricing_info is not None:
        # The pricing the run started with, and what it has charged (pay-per-event), as on Apify.
        shown["pricingInfo"] = dict(run.pricing_info)
        shown["chargedEventCounts"] = dict(run.charged_event_counts or {})
    return shown


def public_version(version: dict[str, Any]) -> dict[str, Any]:
    """A version as the API shows it: secret env var values are never returned."""
    shown = dict(version)
    if "envVars" in shown:
        shown["envVars"] = [
            {k: v for k, v in var.items() if k != "sealed" and not (k == "value" and var.get("isSecret"))}
            for var in shown["envVars"] or []
        ]
    return shown


def actor_json(
    actor: Actor, user: User, stats: dict[str, Any] | None = None, standby_url: str | None = None
) -> dict[str, Any]:
    """Apify's Actor; `stats` as server/services/actor_stats.py counts them (empty on a new actor),
    `standby_url` where its Standby answers (server/standby/config.py)."""
    return {
        "id": actor.id,
        "userId": actor.user_id,
        "name": actor.name,
        "username": user.username,
        "title": actor.title,
        "description": actor.description,
        "isPublic": actor.is_public,
        "createdAt": iso(actor.created_at),
        "modifiedAt": iso(actor.modified_at),
        "stats": stats or {},
        "versions": [public_version(v) for v in actor.versions],
        "defaultRunOptions": dict(actor.default_run_options),
        "taggedBuilds": dict(actor.tagged_builds),
        "pricingInfos": list(actor.pricing_infos or []),
        "actorStandby": dict(actor.actor_standby) if actor.actor_standby is not None else None,
        "standbyUrl": standby_url,
    }


def task_json(task: Task, user: User, actor: Actor) -> dict[str, Any]:
    return {
        "id": task.id,
        "userId": task.user_id,
        "actId": task.act_id,
        "actName": actor.name,
        "actUsername": user.username,
        "name": task.name,
        "username": user.username,
        "title": task.title,
        "createdAt": iso(task.created_at),
        "modifiedAt": iso(task.modified_at),
        "removedAt": None,
        "stats": {},
        "options": dict(task.options),
        "input": task.input,
    }


def key_value_store_json(store: KeyValueStore, user: User, api_base_url: str) -> dict[str, Any]:
    """A store as its owner sees it: with its URL signing key and signed public URLs."""
    return {
        "id": store.id,
        "name": store.name,
        "userId": store.user_id,
        "username": user.username,
        "createdAt": iso(store.created_at),
        "modifiedAt": iso(store.modified_at),
        "accessedAt": iso(store.accessed_at),
        "actId": store.act_id,
        "actRunId": store.act_run_id,
        "consoleUrl": public_urls.key_value_store_url(api_base_url, store.id),
        "keysPublicUrl": public_urls.keys_public_url(api_base_url, store),
        "recordsPublicUrl": public_urls.records_public_url(api_base_url, store),
        "urlSigningSecretKey": store.url_signing_secret_key,
        "generalAccess": "FOLLOW_USER_SETTING",
        "stats": {},
    }


def dataset_json(dataset: Dataset, user: User, api_base_url: str) -> dict[str, Any]:
    """A dataset as its owner sees it: with its URL signing key and signed items URL."""
    return {
        "id": dataset.id,
        "name": dataset.name,
        "userId": dataset.user_id,
        "username": user.username,
        "createdAt": iso(dataset.created_at),
        "modifiedAt": iso(dataset.modified_at),
        "accessedAt": iso(dataset.accessed_at),
        "itemCount": dataset.item_count,
        "cleanItemCount": dataset.item_count,
        "actId": dataset.act_id,
        "actRunId": dataset.act_run_id,
        "consoleUrl": public_urls.dataset_url(api_base_url, dataset.id),
        "itemsPublicUrl": public_urls.items_public_url(api_base_url, dataset),
        "urlSigningSecretKey": dataset.url_signing_secret_key,
        "generalAccess": "FOLLOW_USER_SETTING",
        "stats": {},
    }


def request_queue_json(queue: QueueView, user: User, api_base_url: str) -> dict[str, Any]:
    return {
        "id": queue.id,
        "name": queue.name,
        "userId": queue.user_id,
        "username": user.username,
        "createdAt": iso(queue.created_at),
        "modifiedAt": iso(queue.modified_at),
        "accessedAt": iso(queue.accessed_at),
        "totalRequestCount": queue.total_request_count,
        "handledRequestCount": queue.handled_request_count,
        "pendingRequestCount": queue.total_request_count - queue.handled_request_count,
        "actId": queue.act_id,
        "actRunId": queue.act_run_id,
        "hadMultipleClients": queue.had_multiple_clients,
        "consoleUrl": f"{api_base_url}/v2/request-queues/{queue.id}",
        "generalAccess": "FOLLOW_USER_SETTING",
        "stats": {},
    }


def queue_request_json(row: QueueRequest) -> dict[str, Any]:
    """A request as stored: the fields it was sent with, and its id, uniqueKey and handledAt. A request
    not handled has no handledAt, as on Apify: Crawlee's Request refuses a null one (its RequestQueue
    then retries the request until it gives up)."""
    stored: dict[str, Any] = json.loads(row.data)
    shown = stored | {"id": row.id, "uniqueKey": row.unique_key, "url": row.url, "method": row.method}
    if row.handled_at is not None:
        shown["handledAt"] = iso(row.handled_at)
    return shown


def head_item_json(row: QueueRequest) -> dict[str, Any]:
    """A request as the head lists it (Apify's HeadRequest): enough to fetch it and tell it apart."""
    retry_count = json.loads(row.data).get("retryCount") or 0
    return {
        "id": row.id,
        "uniqueKey": row.unique_key,
        "url": row.url,
        "method": row.method,
        "retryCount": retry_count,
    }


# Apify's platform features (UserPrivateInfo.effectivePlatformFeatures): Greenroom has actors and storage.
_ENABLED_FEATURES = ("ACTORS", "STORAGE", "WEBHOOKS", "PROXY")
_OTHER_FEATURES = (
    "SCHEDULER", "PROXY_EXTERNAL_ACCESS", "PROXY_RESIDENTIAL", "PROXY_SERPS",
    "ACTORS_PUBLIC_ALL", "ACTORS_PUBLIC_DEVELOPER",
)  # fmt: skip


def _feature(enabled: bool) -> dict[str, Any]:
    return {
        "isEnabled": enabled,
        "disabledReason": None if enabled else "Greenroom does not provide this feature.",
        "disabledReasonType": None if enabled else "DISABLED",
        "isTrial": False,
        "trialExpirationAt": None,
    }


def user_json(user: User, proxy_groups: dict[str, int]) -> dict[str, Any]:
    """GET /v2/users/me: the fields Apify's UserPrivateInfo requires (a self-hosted user has no plan),
    and `proxy`: the user's Apify Proxy password and the operator's groups (name: upstream count)."""
    groups = [{"name": name, "description": None, "availableCount": n} for name, n in proxy_groups.items()]
    return {
        "id": user.id,
        "username": user.username,
        "createdAt": iso(user.created_at),
        "isPaying": False,
        "proxy": {"password": user.proxy_password or "", "groups": groups},
        "plan": {"availableProxyGroups": dict(proxy_groups)},
        "effectivePlatformFeatures": {
            **{name: _feature(True) for name in _ENABLED_FEATURES},
            **{name: _feature(False) for name in _OTHER_FEATURES},
        },
    }


def public_user_json(user: User) -> dict[str, Any]:
    """GET /v2/users/:userId: Apify's UserPublicInfo (a self-hosted user has a username, no profile)."""
    profile = dict.fromkeys(("bio", "pictureUrl", "githubUsername", "websiteUrl", "twitterUsername"))
    return {"username": user.username, "profile": {"name": user.username, **profile}}


def run_short_json(run: RunView) -> dict[str, Any]:
    """A run as run lists show it (Apify's RunShort); usageTotalUsd must be a number for the client."""
    return {
        "id": run.id,
        "actId": run.act_id,
        "actorTaskId": run.actor_task_id,
        "userId": run.user_id,
        "status": run.status,
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
        "buildId": run.build_id,
        "buildNumber": run.build_number,
        "meta": {"origin": run.origin},
        "usageTotalUsd": 0.0,
        "defaultKeyValueStoreId": run.default_key_value_store_id,
        "defaultDatasetId": run.default_dataset_id,
        "defaultRequestQueueId": run.default_request_queue_id,
    }


def actor_short_json(actor: Actor, user: User, total_runs: int, last_run_started_at: Any) -> dict[str, Any]:
    """An actor as GET /v2/acts lists it (Apify's ActorShort), with the run stats it can sort by."""
    stats: dict[str, Any] = {"totalRuns": total_runs}
    if last_run_started_at is not None:
        stats["lastRunStartedAt"] = iso(last_run_started_at)
    return {
        "id": actor.id,
        "createdAt": iso(actor.created_at),
        "modifiedAt": iso(actor.modified_at),
        "name": actor.name,
        "username": user.username,
        "title": actor.title,
        "stats": stats,
    }


def env_var_json(var: dict[str, Any]) -> dict[str, Any]:
    """An env var as the API shows it: a secret's value is never returned."""
    shown = {"name": var["name"], "isSecret": bool(var.get("isSecret"))}
    if not shown["isSecret"]:
        shown["value"] = var.get("value", "")
    return shown


def key_value_store_with_stats_json(
    store: KeyValueStore, user: User, api_base_url: str, storage_bytes: int
) -> dict[str, Any]:
    """A store with the one statistic Greenroom keeps: bytes stored."""
    shown = key_value_store_json(store, user, api_base_url)
    shown["stats"] = {"storageBytes": storage_bytes}
    return shown


def _build_meta(build: Build) -> dict[str, Any]:
    # Apify's BuildsMeta has clientIp and userAgent as strings: left out when unknown, never null.
    meta: dict[str, Any] = {"origin": build.origin}
    if build.client_ip is not None:
        meta["clientIp"] = build.client_ip
    if build.user_agent is not None:
        meta["userAgent"] = build.user_agent
    return meta


def build_short_json(build: Build) -> dict[str, Any]:
    """A build as build lists show it (Apify's BuildShort)."""
    return {
        "id": build.id,
        "actId": build.act_id,
        "userId": build.user_id,
        "status": build.status,
        "startedAt": iso(build.started_at),
        "finishedAt": iso(build.finished_at),
        "usageTotalUsd": 0.0,
        "buildNumber": build.build_number,
        "meta": _build_meta(build),
    }


def build_json(build: Build) -> dict[str, Any]:
    """Apify's Build; actVersion is the version as built, secret env var values left out."""
    version = public_version(build.source) | {"buildTag": build.tag}
    made_of = definition(build.source)
    return build_short_json(build) | {
        "stats": {"durationMillis": 0, "runTimeSecs": 0.0, "computeUnits": 0.0} | dict(build.stats or {}),
        "options": {"useCache": True, "betaPackages": False} | dict(build.options or {}),
        "usage": {},
        "usageUsd": {},
        "actVersion": version,
        "actorDefinition": made_of.actor_definition,
        "inputSchema": made_of.input_schema,
        "readme": made_of.readme,
    }


def api_token_json(row: ApiToken) -> dict[str, Any]:
    """A user's API token as listed: never the secret, which only its creation's answer carries."""
    return {
        "id": row.id,
        "description": row.description,
        "createdAt": iso(row.created_at),
        "expiresAt": iso(row.expires_at),
        "lastUsedAt": iso(row.last_used_at),
    }


def _meta(run: RunView) -> dict[str, Any]:
    """Apify's run meta; scheduleId and scheduledAt only on a schedule's runs, as Apify has them."""
    meta: dict[str, Any] = {"origin": run.origin, "clientIp": run.client_ip, "userAgent": run.user_agent}
    if run.schedule_id is not None:
        meta |= {"scheduleId": run.schedule_id, "scheduledAt": iso(run.scheduled_at)}
    return meta
