"""`greenroom dev` (what `make run` starts): everything on one machine, with no services installed."""

from __future__ import annotations

import argparse
import base64
import os
import signal
import socket
import subprocess
import sys
import threading
from types import FrameType
from typing import Any

from server.cli.api import TOKEN_FILE, URL_FILE
from server.cli.db import sync_db
from server.cli.processes import add_listen_options, listen_settings
from server.cli.supervise import Child
from server.settings import Settings

ADMIN = "admin"


def admin_token(settings: Settings) -> str:
    """The dev admin's token: reused from <data dir>/admin-token while valid, else a new one."""
    from server.users import create_token, create_user, token_is_valid, user_exists

    db = sync_db(settings)
    path = settings.data_dir / TOKEN_FILE
    try:
        if path.is_file() and token_is_valid(db, path.read_text().strip()):
            return path.read_text().strip()
        token = create_token(db, ADMIN) if user_exists(db, ADMIN) else create_user(db, ADMIN)[1]
    finally:
        db.engine.dispose()
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def secrets_key(settings: Settings) -> str:
    """The dev secrets key: <data dir>/secrets-key, made on the first start (lose it, and the
    secret env vars stored under it no longer open)."""
    path = settings.data_dir / "secrets-key"
    if not path.is_file():
        path.touch(mode=0o600)
        path.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    return path.read_text().strip()


def dev(settings: Settings) -> None:
    """Everything on one machine: SQLite file, private redis-server, migrations, workers, API; a
    worker pool or API that dies is started again (server/cli/supervise.py)."""
    from server.embedded_redis import EmbeddedRedis
    from server.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.secrets_key:
        settings = settings.with_(secrets_key=secrets_key(settings))
    if "GREENROOM_SANDBOX" not in os.environ:
        # One person on their own machine: a laptop without bubblewrap (or not root) still runs
        # actors, unsandboxed, and the worker pool says so loudly.
        settings = settings.with_(sandbox="auto")
    stop = _stop_on_signals()
    embedded = None
    if not os.environ.get("GREENROOM_REDIS_URL"):
        embedded = EmbeddedRedis(settings.data_dir)
        settings = settings.with_(redis_url=embedded.start())
    url_file = settings.data_dir / URL_FILE
    pool: Child | None = None
    api: Child | None = None
    try:
        upgrade(settings.sql_url, settings.secrets_key)
        token = admin_token(settings)
        env = {**os.environ, **settings.to_env()}
        pool = Child("worker pool", [sys.executable, "-m", "server.cli", "worker"], env, _say)
        pool.start()
        api = Child("API", [sys.executable, "-m", "server.cli", "serve"], env, _say)
        api_proc = api.start()
        if not _until_serving(settings, api_proc, stop):
            if api_proc.poll() is not None:
                raise SystemExit(f"greenroom dev: the API did not start ({api_proc.returncode})")
            return
        # `greenroom push`, `call` and `runs` find the URL here (server/cli/api.py).
        url_file.write_text(settings.api_base_url + "\n")
        print(f"Greenroom is running at {settings.api_base_url}/ (the API at /v2)", flush=True)
        print(f"API token (user '{ADMIN}'): {token}", flush=True)
        path = settings.data_dir / TOKEN_FILE
        print(f"The token is also in {path}. Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.2):
            pool.keep_alive()
            api.keep_alive()
    finally:
        url_file.unlink(missing_ok=True)
        if api is not None:
            api.stop(timeout_s=30)  # held requests are answered at once (server/cli/processes.py)
        if pool is not None:
            # The workers' running actors get their grace period (worker/shutdown.py) first.
            pool.stop(timeout_s=settings.worker_stop_grace_s + settings.kill_grace_s + 30)
        if embedded is not None:
            embedded.stop()


def _say(line: str) -> None:
    print(line, flush=True)


def _stop_on_signals() -> threading.Event:
    """Set by SIGINT (Ctrl-C) or SIGTERM: dev then stops its children, in order."""
    stop = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


def _until_serving(settings: Settings, proc: subprocess.Popen[bytes], stop: threading.Event) -> bool:
    """Whether the API accepts connections (uvicorn listens only after its lifespan started), before
    it exited or dev was told to stop."""
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
    while not stop.is_set() and proc.poll() is None:
        try:
            socket.create_connection((host, settings.port), timeout=1).close()
            return True
        except OSError:
            stop.wait(0.05)
    return False


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "dev",
        help="everything on this machine: SQLite, a private Redis, workers and the API (`make run`)",
        description="Start Greenroom on this machine with no services installed: a SQLite file and a "
        "private redis-server under $GREENROOM_DATA_DIR (./data), the migrations, a worker pool and "
        "the API. Prints the URL and an admin token once the API accepts connections.",
    )
    add_listen_options(p)
    p.set_defaults(handler=_command)


def _command(settings: Settings, args: argparse.Namespace) -> None:
    dev(listen_settings(settings, args))
