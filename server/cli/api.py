"""The API-facing commands' HTTP client (push, call, runs) and where they find the URL and token.

A plain HTTP client (urllib): the server's dependencies are enough to talk to a Greenroom.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.settings import Settings

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"})
# What `greenroom dev` leaves in its data directory for these commands (server/cli/dev.py).
TOKEN_FILE = "admin-token"
URL_FILE = "api-url"


class CliError(Exception):
    """Something the user must fix (a bad actor.json, an API error); printed, exit code 1."""


@dataclass(frozen=True)
class Api:
    base_url: str  # the API root, without /v2
    token: str

    def request(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> tuple[bytes, str]:
        """The response's bytes and Content-Type; an error envelope raises CliError."""
        url = f"{self.base_url}/v2{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read())["error"]
                text = f"{error['type']}: {error['message']}"
            except (ValueError, KeyError, TypeError):
                text = f"HTTP {exc.code}"
            raise CliError(f"{method} {path}: {text}") from None
        except urllib.error.URLError as exc:
            raise CliError(f"Greenroom is not reachable at {self.base_url}: {exc.reason}") from None

    def stream(self, path: str, params: dict[str, Any] | None = None) -> Iterator[bytes]:
        """A GET response's body as it arrives (a followed log); no timeout between chunks."""
        url = f"{self.base_url}/v2{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request) as response:
                while chunk := response.read1(65536):
                    yield chunk
        except urllib.error.HTTPError as exc:
            raise CliError(f"GET {path}: HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise CliError(f"Greenroom is not reachable at {self.base_url}: {exc.reason}") from None

    def call(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """The response's `data` (or its text, for a log)."""
        payload, content_type = self.request(method, path, params, body)
        if "json" not in content_type:
            return payload.decode("utf-8", "replace")
        return json.loads(payload)["data"]


def add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="the API root (default: $GREENROOM_URL, else the `greenroom dev` found, else this machine's)",
    )
    parser.add_argument(
        "--token",
        help="API token (default: $GREENROOM_TOKEN, else the admin token of the `greenroom dev` found)",
    )


def _dev_data_dirs(settings: Settings, near: Path | None) -> list[Path]:
    """Where a `greenroom dev` may have left its token: this process's data dir, then a data/ in the
    given folder (an actor's), the current one, or any folder above them, as when an actor sits
    inside the project that runs `greenroom dev`."""
    dirs = [settings.data_dir]
    for start in (near, Path.cwd()):
        if start is not None:
            folder = start.resolve()
            dirs += [parent / "data" for parent in (folder, *folder.parents)]
    return dirs


def resolve_api(settings: Settings, args: argparse.Namespace, near: Path | None = None) -> Api:
    """The flags, else GREENROOM_URL / GREENROOM_TOKEN, else a running `greenroom dev`'s, else this
    machine's configured API. These are the client's own variables, not the server's Settings."""
    url = args.url or os.environ.get("GREENROOM_URL")
    token = args.token or os.environ.get("GREENROOM_TOKEN")
    for folder in _dev_data_dirs(settings, near):
        if token or not (folder / TOKEN_FILE).is_file():
            continue
        token = (folder / TOKEN_FILE).read_text().strip()
        if not url and (folder / URL_FILE).is_file():
            url = (folder / URL_FILE).read_text().strip()
    if not token:
        raise CliError("no API token: pass --token, set GREENROOM_TOKEN, or run `greenroom dev`")
    url = (url or settings.api_base_url).rstrip("/").removesuffix("/v2")
    return Api(url, token)
