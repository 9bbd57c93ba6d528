"""Redis and the database closed to the sandbox uids, for as long as a pool needs them closed, and
not longer: a process of a sandbox uid (what nftables matches on: the socket's owner, which an actor
cannot change) connects to a port a dead pool's Redis had, once another service has taken it, while
the port of a live pool's Redis stays refused. Before, the set only grew, and an actor was refused a
run's events websocket or a site on a port a test's private Redis once had (CI: ConnectionRefused
on 127.0.0.1:33315 in tests/test_sdk_python.py). Each test has a uid range, so a table, of its own,
and a lease of seconds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from server.settings import Settings
from tests.services import IN_CI
from tests.stack import ROOT, free_port
from worker.sandbox.network import ServicesClosed, ruleset

# Short, but with room for a loaded machine: a renewal can come 2.5 s late before an entry lapses.
LEASE_S = 3.0
RENEW_S = 0.5

# What a pool of the version before leases wrote (worker/sandbox/network.py then): no timeouts.
OLDER_VERSION = """\
add table {table}
add chain {table} output {{ type filter hook output priority 0 ; policy accept ; }}
add set {table} services4 {{ type ipv4_addr . inet_service ; }}
add set {table} services6 {{ type ipv6_addr . inet_service ; }}
flush chain {table} output
add rule {table} output {owner} ip daddr . tcp dport @services4 reject with tcp reset
add rule {table} output {owner} ip6 daddr . tcp dport @services6 reject with tcp reset
add element {table} services4 {{ 127.0.0.1 . {port} }}
"""

# A pool as run_pool holds it: closed, then renewed from its thread until the process dies.
POOL = """\
import sys, time
from server.settings import Settings
from worker.sandbox.network import ServicesClosed
first, last, redis_url, lease_s, renew_s = sys.argv[1:]
settings = Settings(redis_url=redis_url, sandbox_uids=range(int(first), int(last) + 1))
assert ServicesClosed(settings, lease_s=float(lease_s), renew_s=float(renew_s)).start()
print("closed", flush=True)
time.sleep(600)
"""


@pytest.fixture
def uids(sandbox_mode: str) -> Iterator[range]:
    """Two uids no sandbox of the suite uses, and their table, deleted after the test."""
    if sandbox_mode == "off":
        pytest.skip("this machine cannot sandbox actors (not root, or no bubblewrap)")
    if shutil.which("nft") is None:
        if IN_CI:
            pytest.fail("CI must close Redis and the database to sandboxes, and nft is not installed")
        pytest.skip("nft is not installed (Debian: apt-get install nftables)")
    first = 300000 + os.getpid() % 100000 * 2
    own = range(first, first + 2)
    yield own
    subprocess.run(["nft", "delete", "table", "inet", _table(own)], capture_output=True)


def _table(uids: range) -> str:
    return f"greenroom_sandbox_{uids[0]}_{uids[-1]}"


def _settings(uids: range, port: int) -> Settings:
    return Settings(redis_url=f"redis://127.0.0.1:{port}/0", sandbox_uids=uids)


def _listen(port: int = 0) -> socket.socket:
    """A service on 127.0.0.1: a pool's Redis, or whatever takes its port after it."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    return server


def _connects_as(uid: int, port: int) -> bool:
    """Whether a process of `uid`, as a sandboxed actor is, connects to 127.0.0.1:`port`."""
    pid = os.fork()
    if pid == 0:  # only system calls here: this test's process has threads (a pool's renewals)
        code = 2
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            with socket.socket() as client:
                client.settimeout(5)
                client.connect(("127.0.0.1", port))
            code = 0
        except ConnectionRefusedError:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 1), f"the connection as {uid} neither went nor was refused ({code})"
    return code == 0


def _until_connects(uid: int, port: int, within_s: float) -> None:
    """Until a process of `uid` connects to `port`; fails after `within_s`."""
    started = time.monotonic()
    while not _connects_as(uid, port):
        assert time.monotonic() - started < within_s, f"127.0.0.1:{port} still refused after {within_s} s"
        time.sleep(0.1)


def _flags(uids: range) -> list[str]:
    """The flags of the table's IPv4 set."""
    command = ["nft", "-j", "list", "set", "inet", _table(uids), "services4"]
    listed = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    return [flag for item in listed["nftables"] if "set" in item for flag in item["set"].get("flags", [])]


def test_a_dead_pools_port_opens_again_and_a_live_pools_stays_closed(uids: range) -> None:
    uid = uids[-1]
    gone, live = _listen(), _listen()
    gone_port, live_port = gone.getsockname()[1], live.getsockname()[1]
    # A pool on a Redis of its own, like the faults tests' (a process: SIGKILLed, it renews no more).
    pool_args = [str(uids[0]), str(uids[-1]), f"redis://127.0.0.1:{gone_port}/0", str(LEASE_S), str(RENEW_S)]
    dead_pool = subprocess.Popen(
        [sys.executable, "-c", POOL, *pool_args],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    live_pool = ServicesClosed(_settings(uids, live_port), lease_s=LEASE_S, renew_s=RENEW_S)
    try:
        assert dead_pool.stdout is not None and dead_pool.stdout.readline() == b"closed\n"
        assert live_pool.start()
        started = time.monotonic()
        assert not _connects_as(uid, gone_port) and not _connects_as(uid, live_port)
        assert _connects_as(os.getuid(), gone_port)  # the rule is the sandbox uids' only
        dead_pool.send_signal(signal.SIGKILL)
        dead_pool.wait()
        # Its Redis stops, and the next service on that port (an events websocket, a site) is the
        # actor's to reach: a lease after the pool's last renewal at most.
        gone.close()
        gone = _listen(gone_port)
        _until_connects(uid, gone_port, within_s=LEASE_S + 3)
        # Meanwhile the live pool's Redis stayed closed, past the lease of its first closing.
        time.sleep(max(0.0, started + LEASE_S + 2 * RENEW_S - time.monotonic()))
        assert not _connects_as(uid, live_port)
    finally:
        live_pool.stop()
        dead_pool.kill()
        dead_pool.wait()
        gone.close()
        live.close()


def test_a_stopped_pools_port_opens_a_lease_later(uids: range) -> None:
    service = _listen()
    port = service.getsockname()[1]
    pool = ServicesClosed(_settings(uids, port), lease_s=LEASE_S, renew_s=RENEW_S)
    try:
        assert pool.start()
        assert not _connects_as(uids[0], port)
        pool.stop()
        stopped = time.monotonic()
        assert not _connects_as(uids[0], port)  # not removed: another pool may renew it still
        _until_connects(uids[0], port, within_s=LEASE_S + 3)
        assert time.monotonic() - stopped >= LEASE_S - 2 * RENEW_S
    finally:
        pool.stop()
        service.close()


def test_an_older_versions_table_is_taken_over_and_its_entries_dropped(uids: range) -> None:
    stale, own = _listen(), _listen()
    stale_port, own_port = stale.getsockname()[1], own.getsockname()[1]
    table = f"inet {_table(uids)}"
    older = OLDER_VERSION.format(table=table, owner=f"meta skuid {uids[0]}-{uids[-1]}", port=stale_port)
    try:
        subprocess.run(["nft", "-f", "-"], input=older, text=True, check=True)
        assert not _connects_as(uids[0], stale_port)
        assert ServicesClosed(_settings(uids, own_port)).renew()
        assert _flags(uids) == ["timeout"]
        assert _connects_as(uids[0], stale_port)  # what the older version's set held is gone
        assert not _connects_as(uids[0], own_port)
        # Another pool taking over now (it found the old set too) fails and changes nothing.
        other = {("127.0.0.1", free_port())}
        taking_over = ruleset(uids, other, 60.0, take_over=True)
        assert (
            subprocess.run(["nft", "-f", "-"], input=taking_over, text=True, capture_output=True).returncode
            != 0
        )
        # So does a pool of the older version started now, and it says so in its log.
        assert subprocess.run(["nft", "-f", "-"], input=older, text=True, capture_output=True).returncode != 0
        assert not _connects_as(uids[0], own_port)
        assert _connects_as(uids[0], stale_port)
    finally:
        stale.close()
        own.close()
