"""Where the proxy may connect: what the operator allows, never what it denies, never Redis or the
database.

The proxy runs as the worker's user, outside the sandbox: the nftables rule that keeps sandboxed
actors off Redis and the database (worker/sandbox/network.py) does not hold for its connections, so
the same addresses are refused here. A host name is resolved, every address checked, and the
connection made to a checked address (a name that resolves differently a second time cannot slip
through). Through an upstream proxy the upstream resolves the name; a name that resolves here is
still checked here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from server.settings import Settings
from worker.sandbox.network import service_addresses

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """Raised when the operator does not let the proxy connect to a destination."""


@dataclass(frozen=True)
class Rule:
    network: Network
    port: int | None  # None: every port

    def matches(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        return address in self.network and self.port in (None, port)


def parse_rule(text: str) -> Rule:
    """`10.0.0.0/8`, `192.0.2.7`, `192.0.2.7:8080`, `::1`, `[::1]:5432`, `[fd00::]/8`... as a Rule."""
    host, port = text.strip(), None
    if host.startswith("["):
        inner, _, rest = host[1:].partition("]")
        host = inner + (rest if rest.startswith("/") else "")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = int(port_text)
    try:
        return Rule(ipaddress.ip_network(host, strict=False), port)
    except ValueError:
        raise ValueError(f"{text!r} is not a network (CIDR or address, optionally :port)") from None


def _plain(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


class Destinations:
    def __init__(self, allow: list[Rule], deny: list[Rule]):
        self.allow = allow
        self.deny = deny

    @classmethod
    def from_settings(cls, settings: Settings) -> Destinations:
        deny = [parse_rule(text) for text in settings.proxy_deny]
        for ip, port in sorted(service_addresses(settings)):
            deny.append(Rule(ipaddress.ip_network(_plain(ip)), port))
        return cls([parse_rule(text) for text in settings.proxy_allow], deny)

    def check(self, address: str, port: int) -> None:
        ip = _plain(address)
        if ip.is_unspecified:  # Linux connects 0.0.0.0 and :: to this host: past every loopback rule
            raise Refused(f"The proxy may not connect to {ip}:{port} (the unspecified address).")
        if any(rule.matches(ip, port) for rule in self.deny):
            raise Refused(f"The proxy may not connect to {ip}:{port} (denied by the operator).")
        if self.allow and not any(rule.matches(ip, port) for rule in self.allow):
            raise Refused(f"The proxy may not connect to {ip}:{port} (not in GREENROOM_PROXY_ALLOW).")

    async def resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses, every one checked (Refused if any is not allowed)."""
        try:
            ipaddress.ip_address(host)
            addresses = [host]
        except ValueError:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            self.check(address, port)
        return addresses
