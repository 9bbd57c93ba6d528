"""A PostgreSQL server of a test's own (initdb + pg_ctl into a temporary directory, a free port, trust
auth), so the test may stop and start it. The machine's PostgreSQL on 5432 is never touched.

PostgreSQL refuses to run as root: under root, the server runs as the `postgres` system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.stack import free_port


def _bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin that has initdb and pg_ctl."""
    found = [
        Path(initdb).parent
        for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if (Path(initdb).parent / "pg_ctl").exists()
    ]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


def unavailable_reason() -> str | None:
    """Why a private server cannot be had here (None: it can)."""
    if _bin_dir() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run PostgreSQL as"
    return None


class PrivatePostgres:
    """start() → URL of database `greenroom`; stop(mode) and start() again keep the data and port."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        assert bin_dir is not None, unavailable_reason()
        self._bin = bin_dir
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="greenroom-pg-"))
        self._data = self._dir / "data"
        self._user: int | None = None
        self._group: int | None = None
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            self._user, self._group = entry.pw_uid, entry.pw_gid
            os.chown(self._dir, entry.pw_uid, entry.pw_gid)
        self._initialized = False

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/greenroom"

    def _run(self, *argv: str) -> None:
        subprocess.run(
            [str(self._bin / argv[0]), *argv[1:]],
            check=True,
            user=self._user,
            group=self._group,
            cwd=self._dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def start(self) -> str:
        if not self._initialized:
            self._run("initdb", "-D", str(self._data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self._dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self._data), "-o", options, "-l", str(self._dir / "log"), "-w", "start")
        if not self._initialized:
            self._initialized = True
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute("CREATE DATABASE greenroom")
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """fast: every session is cut off (its transaction rolled back) and the server stops."""
        self._run("pg_ctl", "-D", str(self._data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        if (self._data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self._dir, ignore_errors=True)
