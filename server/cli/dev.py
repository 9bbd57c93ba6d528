"""`greenroom dev` (what `make run` starts): everything on one machine, with no services installed."""

from __future__ import annotations

import argparse
import base64
import os
import signal
import subprocess
import sys
from typing import Any

from server.cli.api import TOKEN_FILE, URL_FILE
from server.cli.db import sync_db
from server.cli.processes import add_listen_options, listen_settings, serve_api
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
    """Everything on one machine: SQLite file, private redis-server, migrations, workers, API."""
    from server.embedded_redis import EmbeddedRedis
    from server.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.secrets_key:
        settings = settings.with_(secrets_key=secrets_key(settings))
    if "GREENROOM_SANDBOX" not in os.environ:
        # One person on their own machine: a laptop without bubblewrap (or not root) still runs
        # actors, unsandboxed, and the worker pool says so loudly.
        settings = settings.with_(sandbox="auto")
    embedded = None
    if not os.environ.get("GREENROOM_REDIS_URL"):
        embedded = EmbeddedRedis(settings.data_dir)
        settings = settings.with_(redis_url=embedded.start())
    pool = None
    url_file = settings.data_dir / URL_FILE
    try:
        upgrade(settings.sql_url, settings.secrets_key)
        token = admin_token(settings)
        pool = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "worker"], env={**os.environ, **settings.to_env()}
        )

        def ready() -> None:
            # `greenroom push`, `call` and `runs` find the URL here (server/cli/api.py).
            url_file.write_text(settings.api_base_url + "\n")
            print(f"Greenroom is running at {settings.api_base_url}/ (the API at /v2)", flush=True)
            print(f"API token (user '{ADMIN}'): {token}", flush=True)
            path = settings.data_dir / TOKEN_FILE
            print(f"The token is also in {path}. Press Ctrl-C to stop.", flush=True)

        serve_api(settings, on_ready=ready)
    finally:
        url_file.unlink(missing_ok=True)
        if pool is not None:
            pool.send_signal(signal.SIGTERM)
            # The workers' running actors get their grace period (worker/shutdown.py) first.
            pool.wait(timeout=settings.worker_stop_grace_s + settings.kill_grace_s + 30)
        if embedded is not None:
            embedded.stop()


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
