"""Closing Redis and the database to sandboxed actors, where they listen on TCP.

A sandbox shares the host's network (actors reach the API, the internet, and sites on this host's
loopback), so a TCP Redis or PostgreSQL is one connection away unless something says no. Each
worker pool adds its Redis and database addresses to an nftables set whose rule rejects connections
from the sandbox uids (the `skuid` of a socket is its process's uid, which a sandbox cannot change).
The table is one per uid range, shared by every Greenroom on the machine that uses the range; its
set only grows (addresses of services, never of actors' targets).

This is loopback and local-host protection, not a network policy: a production deployment still
gives Redis and PostgreSQL passwords the actors never see, and keeps them on a network the
workers' actors cannot route to (README, Security). `greenroom dev` needs none of it: its Redis is
a unix socket and its database a file in the data directory, which no sandbox sees.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import socket
import subprocess
from urllib.parse import urlsplit

from server.settings import Settings

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"redis": 6379, "rediss": 6380, "postgresql": 5432, "postgres": 5432, "mysql": 3306}


def service_addresses(settings: Settings) -> set[tuple[str, int]]:
    """(ip, port) of every TCP endpoint of Redis and the database (unix sockets and files: none)."""
    found: set[tuple[str, int]] = set()
    for url in (settings.redis_url, settings.sql_url):
        parts = urlsplit(url)
        scheme = parts.scheme.split("+")[0]
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            continue
        port = parts.port or _DEFAULT_PORTS[scheme]
        try:
            infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            log.warning("cannot resolve %s to close it to sandboxes: %s", parts.hostname, exc)
            continue
        found |= {(str(info[4][0]), port) for info in infos}
    return found


def ruleset(uids: range, addresses: set[tuple[str, int]]) -> str:
    """The nft script: the table, its rule for `uids`, and `addresses` added to its sets."""
    table = f"inet greenroom_sandbox_{uids[0]}_{uids[-1]}"
    owner = f"meta skuid {uids[0]}-{uids[-1]}"
    lines = [
        f"add table {table}",
        f"add chain {table} output {{ type filter hook output priority 0 ; policy accept ; }}",
        f"add set {table} services4 {{ type ipv4_addr . inet_service ; }}",
        f"add set {table} services6 {{ type ipv6_addr . inet_service ; }}",
        f"flush chain {table} output",
        f"add rule {table} output {owner} ip daddr . tcp dport @services4 reject with tcp reset",
        f"add rule {table} output {owner} ip6 daddr . tcp dport @services6 reject with tcp reset",
    ]
    for ip, port in sorted(addresses):
        family = "services6" if ipaddress.ip_address(ip).version == 6 else "services4"
        lines.append(f"add element {table} {family} {{ {ip} . {port} }}")
    return "\n".join(lines) + "\n"


def close_services(settings: Settings) -> bool:
    """Reject the sandbox uids' connections to Redis and the database; False (said in the log) if
    they are on TCP and nftables cannot do it here."""
    addresses = service_addresses(settings)
    if not addresses:
        return True
    nft = shutil.which("nft")
    problem = "nft is not installed (Debian: apt-get install nftables)" if nft is None else ""
    if nft is not None:
        try:
            done = subprocess.run(
                [nft, "-f", "-"],
                input=ruleset(settings.sandbox_uids, addresses),
                capture_output=True,
                text=True,
            )
            problem = done.stderr.strip() if done.returncode != 0 else ""
        except OSError as exc:
            problem = str(exc)
    if problem:
        log.warning(
            "sandboxed actors can connect to Redis and the database at %s: %s. Give them passwords the"
            " actors never see and keep them off the actors' network (README, Security).",
            ", ".join(f"{ip}:{port}" for ip, port in sorted(addresses)),
            problem,
        )
        return False
    return True
