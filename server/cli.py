"""The `greenroom` command: dev, serve, worker, proxy, db upgrade, user create, token create, push.

Each subcommand only parses arguments, builds Settings, and calls one function.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from types import FrameType

from server.settings import Settings

ADMIN = "admin"


def _serve(settings: Settings) -> None:
    import uvicorn

    from server.app import create_app

    app = create_app(settings)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # uvicorn waits for in-flight requests before it stops; held run-sync and waitForFinish
            # requests would keep it up to their wait limit, so they are answered now.
            super().handle_exit(sig, frame)
            drain_soon = getattr(app.state, "drain_soon", None)
            if drain_soon is not None:
                drain_soon()

    # uvicorn's own access log is off and its logging left as create_app set it: the access log is
    # Greenroom's (server/observability/requests.py), which never writes a token.
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    # uvicorn re-raises Ctrl-C after its graceful shutdown; for us that is the normal way to stop.
    with contextlib.suppress(KeyboardInterrupt):
        Server(config).run()


def _sync_db(settings: Settings):  # type: ignore[no-untyped-def]
    from server.storage.db import SyncDatabase, create_sync_engine

    return SyncDatabase(create_sync_engine(settings.sql_url))


def _admin_token(settings: Settings) -> str:
    """The dev admin's token: reused from <data dir>/admin-token while valid, else a new one."""
    from server.users import create_token, create_user, token_is_valid, user_exists

    db = _sync_db(settings)
    path = settings.data_dir / "admin-token"
    try:
        if path.is_file() and token_is_valid(db, path.read_text().strip()):
            return path.read_text().strip()
        token = create_token(db, ADMIN) if user_exists(db, ADMIN) else create_user(db, ADMIN)[1]
    finally:
        db.engine.dispose()
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def _secrets_key(settings: Settings) -> str:
    """The dev secrets key: <data dir>/secrets-key, made on the first start (lose it, and the
    secret env vars stored under it no longer open)."""
    import base64

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
        settings = settings.with_(secrets_key=_secrets_key(settings))
    if "GREENROOM_SANDBOX" not in os.environ:
        # One person on their own machine: a laptop without bubblewrap (or not root) still runs
        # actors, unsandboxed, and the worker pool says so loudly.
        settings = settings.with_(sandbox="auto")
    embedded = None
    if not os.environ.get("GREENROOM_REDIS_URL"):
        embedded = EmbeddedRedis(settings.data_dir)
        settings = settings.with_(redis_url=embedded.start())
    pool = None
    try:
        upgrade(settings.sql_url, settings.secrets_key)
        token = _admin_token(settings)
        pool = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "worker"], env={**os.environ, **settings.to_env()}
        )
        print(f"Greenroom is running at {settings.api_base_url}/v2", flush=True)
        print(f"API token (user '{ADMIN}'): {token}", flush=True)
        print(f"The token is also in {settings.data_dir / 'admin-token'}. Press Ctrl-C to stop.", flush=True)
        _serve(settings)
    finally:
        if pool is not None:
            pool.send_signal(signal.SIGTERM)
            # The workers' running actors get their grace period (worker/shutdown.py) first.
            pool.wait(timeout=settings.worker_stop_grace_s + settings.kill_grace_s + 30)
        if embedded is not None:
            embedded.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="greenroom")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("dev", "serve"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int)
        p.add_argument("--host")
    w = sub.add_parser("worker")
    w.add_argument("--processes", type=int)
    w.add_argument("--burst", action="store_true")
    sub.add_parser("proxy", help="Apify Proxy alone (every `greenroom worker` pool starts one)")
    db = sub.add_parser("db")
    db.add_argument("action", choices=["upgrade"])
    for name in ("user", "token"):
        p = sub.add_parser(name)
        p.add_argument("action", choices=["create"])
        p.add_argument("username")
    push = sub.add_parser("push", help="deploy an actor directory (with .actor/actor.json) and build it")
    push.add_argument("directory", nargs="?", default=".")
    push.add_argument("--url", help="the API root (default: $GREENROOM_URL, else this machine's API)")
    push.add_argument("--token", help="API token (default: $GREENROOM_TOKEN, else <data dir>/admin-token)")
    push.add_argument("--wait", type=float, default=600, help="seconds to wait for the build (600)")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if getattr(args, "port", None):
        settings = settings.with_(port=args.port)
    if getattr(args, "host", None):
        settings = settings.with_(host=args.host)

    if args.command == "dev":
        dev(settings)
    elif args.command == "serve":
        _serve(settings)
    elif args.command == "worker":
        from worker.main import run_pool, run_worker

        if args.burst:
            run_worker(settings, burst=True)
        else:
            run_pool(settings, args.processes or settings.worker_processes)
    elif args.command == "proxy":
        from worker.proxy.main import run_proxy

        run_proxy(settings)
    elif args.command == "db":
        from server.migrate import upgrade

        upgrade(settings.sql_url, settings.secrets_key)
    elif args.command == "user":
        from server.users import create_user

        user, token = create_user(_sync_db(settings), args.username)
        print(f"user {user.username} ({user.id}) token: {token}")
    elif args.command == "token":
        from server.users import create_token

        print(create_token(_sync_db(settings), args.username))
    elif args.command == "push":
        sys.exit(_push(settings, args))


def _push(settings: Settings, args: argparse.Namespace) -> int:
    """Token and URL from the flags, else GREENROOM_TOKEN / GREENROOM_URL, else this machine's."""
    from pathlib import Path

    from server.push import Api, PushError, push

    url = args.url or os.environ.get("GREENROOM_URL") or settings.api_base_url
    url = url.rstrip("/").removesuffix("/v2")
    token = args.token or os.environ.get("GREENROOM_TOKEN")
    token_file = settings.data_dir / "admin-token"
    if not token and token_file.is_file():
        token = token_file.read_text().strip()
    if not token:
        print(
            "error: no API token: pass --token, set GREENROOM_TOKEN, or run `greenroom dev`", file=sys.stderr
        )
        return 2
    try:
        return push(Path(args.directory), Api(url, token), wait_s=args.wait)
    except PushError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    main()
