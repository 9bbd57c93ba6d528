"""Checks on actor, version and task bodies (pure). Each failure is a 400 naming the field."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from server.errors import InvalidInput
from server.run_options import MAX_SAFE_INTEGER, check_memory, check_timeout
from server.services.pricing import is_finite_number
from server.settings import Settings

NAME_RE = re.compile(r"^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$")
VERSION_RE = re.compile(r"^([0-9]|[1-9][0-9])\.([0-9]|[1-9][0-9])$")
CALLABLE_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
SOURCE_TYPES = ("SOURCE_FILES", "PYTHON_CALLABLE")
TITLE_MAX_CHARS = 255  # the title columns are VARCHAR(255)
STORAGE_NAME_MAX_CHARS = 63


def check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 3 <= len(value) <= 63 or not NAME_RE.fullmatch(value):
        raise InvalidInput(
            f"{what} name must be 3 to 63 letters, digits or dashes, not starting or ending with a dash."
        )
    return value


def check_storage_name(value: Any, what: str) -> str:
    """A named store or dataset: 1 to 63 letters, digits or dashes (Apify's storage name rule)."""
    if not isinstance(value, str) or len(value) > STORAGE_NAME_MAX_CHARS or not NAME_RE.fullmatch(value):
        raise InvalidInput(
            f"{what} name must be 1 to {STORAGE_NAME_MAX_CHARS} letters, digits or dashes,"
            " not starting or ending with a dash."
        )
    return value


def check_text(value: Any, field: str, max_chars: int | None = None) -> str | None:
    """An optional free-text field: a string (no NUL, which PostgreSQL cannot store) or null."""
    if value is None:
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidInput(f"'{field}' must be a string without NUL characters.")
    if max_chars is not None and len(value) > max_chars:
        raise InvalidInput(f"'{field}' must be at most {max_chars} characters long.")
    return value


def check_source_path(name: Any) -> str:
    """A source file name: relative, inside the build directory."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise InvalidInput(f"Source file name {name!r} is not valid.")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise InvalidInput(f"Source file name {name!r} must stay inside the actor's directory.")
    return name


def check_version(version: Any) -> dict[str, Any]:
    if not isinstance(version, dict):
        raise InvalidInput("Each version must be a JSON object.")
    number = version.get("versionNumber", "0.0")
    if not isinstance(number, str) or not VERSION_RE.fullmatch(number):
        raise InvalidInput("Version 'versionNumber' must look like MAJOR.MINOR, e.g. 0.0.")
    source_type = version.get("sourceType")
    if source_type not in SOURCE_TYPES:
        raise InvalidInput(f"Version 'sourceType' must be one of {', '.join(SOURCE_TYPES)} in Greenroom.")
    if source_type == "SOURCE_FILES":
        files = version.get("sourceFiles")
        if not isinstance(files, list):
            raise InvalidInput("A SOURCE_FILES version needs 'sourceFiles', an array.")
        for file in files:
            if not isinstance(file, dict):
                raise InvalidInput("Each source file must be a JSON object.")
            check_source_path(file.get("name"))
            if not file.get("folder"):
                if file.get("format", "TEXT") not in ("TEXT", "BASE64"):
                    raise InvalidInput("Source file 'format' must be TEXT or BASE64.")
                if not isinstance(file.get("content", ""), str):
                    raise InvalidInput("Source file 'content' must be a string.")
    else:
        target = version.get("callable")
        if not isinstance(target, str) or not CALLABLE_RE.fullmatch(target):
            raise InvalidInput("A PYTHON_CALLABLE version needs 'callable' as 'package.module:function'.")
    start = version.get("startCommand")
    if start is not None and (not isinstance(start, str) or not start.strip()):
        raise InvalidInput("Version 'startCommand' must be a non-empty string.")
    env_vars = version.get("envVars") or []
    if not isinstance(env_vars, list) or not all(
        isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("value", ""), str)
        for v in env_vars
    ):
        raise InvalidInput("Version 'envVars' must be an array of {name, value, isSecret}.")
    # Checked: a buildTag of another type reached the builds' tag column (a 500, found by schemathesis).
    build_tag = check_build_tag(version.get("buildTag") or "latest")
    return {**version, "versionNumber": number, "buildTag": build_tag}


def check_run_options(options: Any, settings: Settings, what: str) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InvalidInput(f"'{what}' must be a JSON object.")
    timeout = options.get("timeoutSecs")
    if timeout is not None:
        if not isinstance(timeout, int) or isinstance(timeout, bool):
            raise InvalidInput(f"'{what}.timeoutSecs' must be a whole number of seconds, 0 for none.")
        check_timeout(timeout, settings, f"'{what}.timeoutSecs'")
    memory = options.get("memoryMbytes")
    if memory is not None:
        if not isinstance(memory, int) or isinstance(memory, bool):
            raise InvalidInput(f"'{what}.memoryMbytes' must be a whole number.")
        check_memory(memory, settings)
    max_items = options.get("maxItems")
    if max_items is not None and (
        not isinstance(max_items, int)
        or isinstance(max_items, bool)
        or not 0 <= max_items <= MAX_SAFE_INTEGER
    ):
        raise InvalidInput(
            f"'{what}.maxItems' must be a whole number between 0 and {MAX_SAFE_INTEGER}, or null."
        )
    build = options.get("build")
    if build is not None and (not isinstance(build, str) or "\x00" in build):
        raise InvalidInput(f"'{what}.build' must be a build tag or number.")
    limit = options.get("maxTotalChargeUsd")
    if limit is not None and (not is_finite_number(limit) or limit < 0):
        raise InvalidInput(f"'{what}.maxTotalChargeUsd' must be a number not less than 0, or null.")
    return dict(options)


ENV_VAR_NAME_MAX_CHARS = 100
BUILD_TAG_MAX_CHARS = 64


def check_env_var(value: Any, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """One {name, value, isSecret}. A secret sent without a value keeps `previous`'s: the API never
    shows secret values, so a client that reads, edits and writes back cannot send them."""
    if not isinstance(value, dict):
        raise InvalidInput("Each environment variable must be a JSON object {name, value, isSecret}.")
    name = value.get("name")
    if not isinstance(name, str) or not name or len(name) > ENV_VAR_NAME_MAX_CHARS or "=" in name:
        raise InvalidInput(
            f"Environment variable 'name' must be 1 to {ENV_VAR_NAME_MAX_CHARS} characters, without '='."
        )
    check_text(name, "name")
    is_secret = value.get("isSecret")
    if is_secret is not None and not isinstance(is_secret, bool):
        raise InvalidInput("Environment variable 'isSecret' must be a boolean.")
    secret = bool(is_secret)
    if "value" in value:
        text = check_text(value["value"], "value")
        if text is None:
            raise InvalidInput("Environment variable 'value' must be a string.")
    elif secret and previous is not None and previous.get("isSecret"):
        if "sealed" in previous:  # as stored: it stays sealed
            return {"name": name, "isSecret": True, "sealed": previous["sealed"]}
        text = previous.get("value", "")
    else:
        # Also when a secret turns visible: reusing its hidden value would reveal it.
        raise InvalidInput(f"Environment variable {name!r} needs a 'value'.")
    return {"name": name, "value": text, "isSecret": secret}


def check_env_vars(value: Any, previous: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """A version's envVars (null = none): unique names; secrets without a value keep the old one."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("Version 'envVars' must be an array of {name, value, isSecret}.")
    old = {v.get("name"): v for v in previous or []}
    checked = [check_env_var(v, old.get(v.get("name")) if isinstance(v, dict) else None) for v in value]
    if len({v["name"] for v in checked}) != len(checked):
        raise InvalidInput("Environment variable names must be unique within a version.")
    return checked


def check_build_tag(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > BUILD_TAG_MAX_CHARS or "\x00" in value:
        raise InvalidInput(f"A build tag must be a string of 1 to {BUILD_TAG_MAX_CHARS} characters.")
    return value


def check_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"'{field}' must be a boolean.")
    return value


def check_actor_run_options(options: Any, settings: Settings) -> dict[str, Any]:
    """defaultRunOptions: the task checks plus Apify's restartOnError and maxItems."""
    checked = check_run_options(options, settings, "defaultRunOptions")
    if checked.get("restartOnError") is not None:
        check_bool(checked["restartOnError"], "defaultRunOptions.restartOnError")
    max_items = checked.get("maxItems")
    whole = isinstance(max_items, int) and not isinstance(max_items, bool)
    # Bounded like the maxItems parameter: a larger one overflowed the databases' 64-bit integers.
    if max_items is not None and (not whole or max_items < 1 or max_items > MAX_SAFE_INTEGER):
        raise InvalidInput(
            f"'defaultRunOptions.maxItems' must be a whole number between 1 and {MAX_SAFE_INTEGER}, or null."
        )
    return checked
