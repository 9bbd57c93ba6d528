"""Closing Redis and the database to sandboxed actors, where they listen on TCP, for as long as a
worker pool that uses them lives.

A sandbox shares the host's network (actors reach the API, the internet, and sites on this host's
loopback), so a TCP Redis or PostgreSQL is one connection away unless something says no. Each
worker pool adds its Redis and database addresses to an nftables set whose rule rejects connections
from the sandbox uids (the `skuid` of a socket is its process's uid, which a sandbox cannot change).
The table is one per uid range, shared by every Greenroom on the machine that uses the range.

Every entry is a lease: added with a timeout (`LEASE_S`) and renewed every `RENEW_S` by a thread of
the pool's supervising process (worker/main.py run_pool) until the pool has stopped its workers.
Once no live pool renews an address, it leaves the set by itself, SIGKILLed pools' included. Before,
the set only grew: the port of a test's private Redis stayed closed to actors after the Redis was
gone, and the events websocket or the site that took the port next was refused to them (in
production: whatever service came to a port a Redis once had). Why a lease and not removal on stop
(with a count of users): a killed pool removes nothing, and a stopping pool cannot know whether
another pool still needs the address; a lease needs neither. A live pool renews its entries every
quarter of a lease: only three failed renewals in a row (the first said in the log) let one lapse.

- Renewing is add, delete, add of the element in one transaction (atomic, so the packet path
  never sees the entry missing): a plain `add` of an element already there keeps its old expiry.
- The last renewal sets an entry's expiry, so every pool must use the same lease: it is a constant,
  not a setting (a pool with a shorter one would cut short the lease of another pool on the same
  address). Tests pass a short one on a table of their own.
- A set needs `flags timeout` for timed entries, and a set's flags cannot change: a table from a
  version of Greenroom before this one (its set without the flag, ever growing) is taken over in
  one transaction: rule, sets and this pool's entries replaced at once, so this pool's addresses are
  never open. What the old set held is dropped: stale entries, and the addresses of a still-running
  pool of the older version, which stay open until it is restarted (a pool of the same deployment
  renews the same addresses). Two pools taking over at once cannot undo each other: the takeover
  fails on a set that has the flag already, and that pool renews instead. A pool of the older
  version started later fails to add its set (it has the flag now) and says so in its log.
- Addresses are resolved once, at the pool's start, as the proxy's (worker/proxy/access.py).
- The lease is held by the pool's process, and its workers (which start the actors; an actor dies
  with its worker) are its children, stopped with it. A pool process killed alone (not its process
  group, as systemd, docker and `greenroom dev` do) leaves workers whose actors lose the closure a
  lease later.

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
import threading
from urllib.parse import urlsplit

from server.settings import Settings

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"redis": 6379, "rediss": 6380, "postgresql": 5432, "postgres": 5432, "mysql": 3306}

# How long an entry outlives its pool's last renewal, and how often a pool renews: a pool that
# misses three renewals in a row (nft failing, the machine stalled) still has its entries.
LEASE_S = 60.0
RENEW_S = 15.0


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


def ruleset(
    uids: range,
    addresses: set[tuple[str, int]],
    lease_s: float,
    *,
    take_over: bool = False,
    standby_ports: range | None = None,
) -> str:
    """The nft script (one transaction): the table, its rules for `uids`, and `addresses` leased for
    `lease_s` in its sets; `standby_ports` (Actor Standby's web servers, worker/standby_server.py)
    closed to them as well. It fails, changing nothing, on a set of the other kind: without
    `take_over`, an older version's set (no timeouts); with it, a set that has them already."""
    table = f"inet greenroom_sandbox_{uids[0]}_{uids[-1]}"
    owner = f"meta skuid {uids[0]}-{uids[-1]}"
    sets = {"services4": "ipv4_addr", "services6": "ipv6_addr"}
    timed = "" if take_over else " flags timeout ;"
    lines = [
        f"add table {table}",
        f"add chain {table} output {{ type filter hook output priority 0 ; policy accept ; }}",
        *(f"add set {table} {name} {{ type {kind} . inet_service ;{timed} }}" for name, kind in sets.items()),
        f"flush chain {table} output",  # the rules refer to the sets: gone before a set is
    ]
    if take_over:
        lines += [f"delete set {table} {name}" for name in sets]
        lines += [
            f"add set {table} {name} {{ type {kind} . inet_service ; flags timeout ; }}"
            for name, kind in sets.items()
        ]
    lines += [
        f"add rule {table} output {owner} ip daddr . tcp dport @services4 reject with tcp reset",
        f"add rule {table} output {owner} ip6 daddr . tcp dport @services6 reject with tcp reset",
    ]
    if standby_ports:
        ports = f"{standby_ports[0]}-{standby_ports[-1]}"
        lines.append(f"add rule {table} output {owner} tcp dport {ports} reject with tcp reset")
    timeout = f"timeout {max(1, round(lease_s * 1000))}ms"
    for ip, port in sorted(addresses):
        family = "services6" if ipaddress.ip_address(ip).version == 6 else "services4"
        element = f"{table} {family} {{ {ip} . {port} }}"
        timed_element = f"{table} {family} {{ {ip} . {port} {timeout} }}"
        # add (there now, if it was not), delete, add: a fresh expiry, in one transaction.
        lines += [f"add element {timed_element}", f"delete element {element}", f"add element {timed_element}"]
    return "\n".join(lines) + "\n"


class ServicesClosed:
    """Redis and the database of `settings` closed to its sandbox uids for as long as renew() is
    called within every `lease_s`; start() renews now and then every `renew_s` until stop()."""

    def __init__(self, settings: Settings, *, lease_s: float = LEASE_S, renew_s: float = RENEW_S) -> None:
        self.uids = settings.sandbox_uids
        self.addresses = service_addresses(settings)
        self.standby_ports = settings.standby_ports
        self.lease_s = lease_s
        self.renew_s = renew_s
        self._problem: str | None = None  # the last renewal's, None before the first
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Close them now, and keep them closed from a thread; False (said in the log) if they are
        on TCP and nftables cannot do it here (the thread tries again at every renewal)."""
        closed = self.renew()
        if self.addresses:
            self._thread = threading.Thread(target=self._keep, name="services-closed", daemon=True)
            self._thread.start()
        return closed

    def stop(self) -> None:
        """Renew no more: the entries expire a lease after the last renewal, unless another pool
        renews them (removing them now would open them to that pool's actors until it does)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def renew(self) -> bool:
        """Lease the addresses for `lease_s` from now (and close the standby ports, which need no
        lease); False (said in the log) if nftables cannot."""
        problem = self._apply()
        if problem and problem != self._problem:
            closing = ", ".join(f"{ip}:{port}" for ip, port in sorted(self.addresses))
            log.warning(
                "sandboxed actors can connect to Redis and the database (%s) and to standby runs' ports"
                " (%s-%s): %s. Give Redis and the database passwords the actors never see and keep them"
                " off the actors' network (README, Security).",
                closing or "on no TCP address",
                self.standby_ports[0],
                self.standby_ports[-1],
                problem,
            )
        elif not problem and self._problem:
            log.info("Redis, the database and the standby ports are closed to sandboxed actors again")
        self._problem = problem
        return not problem

    def _keep(self) -> None:
        while not self._stopping.wait(self.renew_s):
            try:
                self.renew()
            except Exception:  # the next renewal may work; a dead thread would never renew again
                log.exception("renewing the closure of Redis and the database to sandboxes failed")

    def _apply(self) -> str:
        nft = shutil.which("nft")
        if nft is None:
            return "nft is not installed (Debian: apt-get install nftables)"
        problem = ""
        # Renew; failing that, take over an older version's table; failing that (another pool took
        # it over meanwhile), renew. Each attempt is one transaction that changes nothing if it fails.
        for take_over in (False, True, False):
            script = ruleset(
                self.uids, self.addresses, self.lease_s, take_over=take_over, standby_ports=self.standby_ports
            )
            try:
                done = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True)
            except OSError as exc:
                return str(exc)
            if done.returncode == 0:
                return ""
            problem = done.stderr.strip() or f"nft exited with {done.returncode}"
        return problem
