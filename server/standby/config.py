"""An actor's `actorStandby`: checked as the API takes it, and in force with Apify's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from server.errors import InvalidInput
from server.run_options import check_memory
from server.services.validation import check_bool, check_build_tag
from server.settings import Settings

# The origin of the runs Standby starts (Apify's meta.origin).
STANDBY_ORIGIN = "STANDBY"

# Apify's defaults for an actor that enables Standby without saying more.
DEFAULT_DESIRED_REQUESTS = 3
DEFAULT_MAX_REQUESTS = 4
DEFAULT_IDLE_TIMEOUT_S = 300
DEFAULT_MEMORY_MBYTES = 1024

_WHOLE = ("desiredRequestsPerActorRun", "maxRequestsPerActorRun", "idleTimeoutSecs")
_FLAGS = ("isEnabled", "disableStandbyFieldsOverride", "shouldPassActorInput")
# An idle timeout above this would keep an idle run for more than a day.
MAX_IDLE_TIMEOUT_S = 86_400
MAX_REQUESTS_PER_RUN = 1_000_000


def check_actor_standby(
    value: Any, settings: Settings, stored: dict[str, Any] | None
) -> dict[str, Any] | None:
    """`actorStandby` as a create or update sends it, laid over what is `stored` (a field left out
    keeps its value, as Apify's update does); null clears it."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput("'actorStandby' must be an object or null.")
    merged = dict(stored or {})
    for field, given in value.items():
        if field not in (*_WHOLE, *_FLAGS, "build", "memoryMbytes"):
            continue  # Apify's other fields (and future ones) are accepted and not stored
        if given is None:
            merged.pop(field, None)
        elif field in _FLAGS:
            merged[field] = check_bool(given, f"actorStandby.{field}")
        elif field == "build":
            merged[field] = check_build_tag(given)
        elif field == "memoryMbytes":
            merged[field] = check_memory(_whole(given, field, 1, settings.max_memory_mbytes), settings)
        else:
            top = MAX_IDLE_TIMEOUT_S if field == "idleTimeoutSecs" else MAX_REQUESTS_PER_RUN
            merged[field] = _whole(given, field, 1, top)
    standby = StandbyConfig.of(merged)
    if standby.desired_requests > standby.max_requests:
        raise InvalidInput(
            f"'actorStandby.desiredRequestsPerActorRun' ({standby.desired_requests}) must not be more"
            f" than 'actorStandby.maxRequestsPerActorRun' ({standby.max_requests})."
        )
    return merged


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"'actorStandby.{field}' must be a whole number between {low} and {high}.")
    return value


@dataclass(frozen=True)
class StandbyConfig:
    """The settings in force: what the actor says, Apify's defaults for the rest."""

    desired_requests: int
    max_requests: int
    idle_timeout_s: int
    build: str | None
    memory_mbytes: int | None

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> StandbyConfig:
        stored = stored or {}
        return cls(
            desired_requests=stored.get("desiredRequestsPerActorRun") or DEFAULT_DESIRED_REQUESTS,
            max_requests=stored.get("maxRequestsPerActorRun") or DEFAULT_MAX_REQUESTS,
            idle_timeout_s=stored.get("idleTimeoutSecs") or DEFAULT_IDLE_TIMEOUT_S,
            build=stored.get("build"),
            memory_mbytes=stored.get("memoryMbytes"),
        )


def standby_url(settings: Settings, username: str, actor_name: str) -> str:
    """The actor's standby URL: under the wildcard host where one is set, else a path on the API."""
    name = f"{username}--{actor_name}".lower()
    if settings.standby_host:
        api = urlsplit(settings.api_base_url)
        port = f":{api.port}" if api.port else ""
        return f"{api.scheme or 'http'}://{name}.{settings.standby_host}{port}"
    return f"{settings.api_base_url.rstrip('/')}/v2/actor-standby/{name}"


def enabled_standby_url(
    settings: Settings, username: str, actor_name: str, stored: dict[str, Any] | None
) -> str | None:
    """Apify's standbyUrl of an actor: where it answers once its Standby is enabled, else None."""
    return standby_url(settings, username, actor_name) if (stored or {}).get("isEnabled") else None
