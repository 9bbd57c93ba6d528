"""Checks the platform makes by a field's editor, beyond JSON Schema: a `requestListSources` array
holds requests with valid URLs, a `proxy` object is a usable proxy configuration. The messages are
the platform's (from `@apify/input_schema`), since clients and people match on them.

Proxy groups are not checked against an account (Greenroom has no Apify Proxy groups to offer).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

_PROXY_URL = re.compile(r"^(?:https?|socks(?:4a?|5h?)?)://(?:[^\s:@/]+(?::[^\s@/]*)?@)?[^\s:@/]+:\d{1,5}/?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _is_url(value: Any) -> bool:
    if not isinstance(value, str) or any(c.isspace() for c in value.strip()):
        return False
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def editor_errors(name: str, field: dict[str, Any], value: Any, required: bool) -> list[str]:
    """The editor's own errors for the top-level field `name` holding `value`."""
    editor, kind = field.get("editor"), field.get("type")
    if kind == "array" and editor == "requestListSources" and isinstance(value, list):
        bad = [str(i) for i, item in enumerate(value) if not _is_source(item)]
        if bad:
            return [f"Items in input.{name} at positions [{','.join(bad)}] do not contain valid URLs"]
    if kind == "object" and editor == "proxy":
        return _proxy_errors(name, value, required)
    return []


def _is_source(item: Any) -> bool:
    if not isinstance(item, dict) or not (item.get("url") or item.get("requestsFromUrl")):
        return False
    return all(_is_url(item[key]) for key in ("url", "requestsFromUrl") if item.get(key))


def _proxy_errors(name: str, value: Any, required: bool) -> list[str]:
    if value is None:
        return []  # null is JSON Schema's business (nullable or a type error)
    if required:
        if not value:
            return [f"Field input.{name} is required"]
        if isinstance(value, dict) and not value.get("useApifyProxy") and not value.get("proxyUrls"):
            return [f"Field input.{name} is required. Please provide custom proxy URLs or use Apify Proxy."]
    if not isinstance(value, dict):
        return []
    errors = []
    use_apify = value.get("useApifyProxy")
    urls = value.get("proxyUrls")
    if not use_apify and isinstance(urls, list):
        for url in urls:
            if not isinstance(url, str) or not _PROXY_URL.match(url.strip()):
                errors.append(
                    f'Proxy URL "{str(url).strip()}" has invalid format, it must be'
                    " socks[4|4a|5|5h]|http[s]://[username[:password]]@hostname:port."
                )
                break
    country = value.get("apifyProxyCountry")
    if country and not use_apify:
        errors.append("The country for Apify Proxy can be specified only when using Apify Proxy.")
    elif country and (not isinstance(country, str) or not _COUNTRY.match(country)):
        errors.append(
            f'Country code "{country}" is invalid. Only ISO 3166-1 alpha-2 country codes are supported.'
        )
    return errors
