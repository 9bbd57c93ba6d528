"""The proxy username: Apify's options syntax, `auto` or `groups-A+B,session-X,country-US`."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The SDKs' own checks (a group or session: word characters, '.', '~'; a session at most 50).
_VALUE_RE = re.compile(r"^[\w.~]+$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}(_[A-Z0-9]{1,3})?$")
SESSION_MAX_CHARS = 50


class BadUsername(ValueError):
    """Raised when a proxy username is not in Apify's syntax."""


@dataclass(frozen=True)
class ProxyOptions:
    groups: tuple[str, ...] = ()
    session: str | None = None
    country: str | None = None  # accepted and reported; Greenroom has no geolocation


def parse_username(username: str) -> ProxyOptions:
    if username in ("", "auto"):
        return ProxyOptions()
    groups: tuple[str, ...] = ()
    session = country = None
    for part in username.split(","):
        key, _, value = part.partition("-")
        if key == "groups" and value and all(_VALUE_RE.fullmatch(g) for g in value.split("+")):
            groups = tuple(value.split("+"))
        elif key == "session" and _VALUE_RE.fullmatch(value) and len(value) <= SESSION_MAX_CHARS:
            session = value
        elif key == "country" and _COUNTRY_RE.fullmatch(value):
            country = value
        else:
            raise BadUsername(
                f"The proxy username part {part!r} is not valid: use 'auto' or comma-separated"
                " groups-A+B, session-ID, country-CC"
            )
    return ProxyOptions(groups, session, country)
