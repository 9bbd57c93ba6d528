"""Where webhooks may be sent: http(s) URLs on public addresses, unless the operator allows more.

A webhook must not become a way into the internal network (the cloud metadata service, Redis,
the database, an admin panel on loopback). The API refuses a URL whose host is a non-public IP
literal when it is saved; the worker resolves the host name when it calls, refuses if any address
is not public, and connects only to an address it checked (so a name that resolves differently
the second time cannot slip through). GREENROOM_WEBHOOK_ALLOW_PRIVATE=1 lifts both checks.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

MAX_URL_CHARS = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """Raised when a webhook URL or the address it resolves to may not be called."""


def parse_url(url: str) -> SplitResult:
    """The URL split, if it is an absolute http(s) URL with a host; TargetRefused otherwise."""
    if len(url) > MAX_URL_CHARS or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise TargetRefused("must be an http or https URL without spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as exc:
        raise TargetRefused(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("must be an http or https URL with a host")
    return parts


def _plain(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: IPAddress) -> bool:
    """Global unicast only: no loopback, private, link-local, shared, reserved or multicast."""
    plain = _plain(address)
    return plain.is_global and not plain.is_multicast


def check_address(address: str, allow_private: bool) -> None:
    if allow_private:
        return
    if not is_public(ipaddress.ip_address(address.split("%", 1)[0])):
        raise TargetRefused(
            f"resolves to {address}, a loopback, private or otherwise non-public address "
            "(an operator may allow such addresses with GREENROOM_WEBHOOK_ALLOW_PRIVATE=1)"
        )


def check_literal_host(url: str, allow_private: bool) -> None:
    """When a webhook is saved: a host that is an IP literal must be public (names are checked
    when the call is made, as they may resolve differently by then)."""
    host = parse_url(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    check_address(host, allow_private)


def resolve(host: str, port: int, allow_private: bool) -> list[tuple[int, tuple[object, ...]]]:
    """Every address of the host, all checked: (family, sockaddr) pairs to connect to, in order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OSError(f"Cannot resolve {host}: {exc}") from exc
    for _family, _type, _proto, _name, sockaddr in infos:
        check_address(str(sockaddr[0]), allow_private)
    return [(family, tuple(sockaddr)) for family, _type, _proto, _name, sockaddr in infos]
