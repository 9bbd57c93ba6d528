"""The operator's upstream proxies per group (GREENROOM_PROXY_GROUPS), and which one a request takes.

No groups (`auto`): Greenroom connects directly. With groups, a request takes one upstream of their
union; a session always takes the same one (a hash of the session id), so its sites see one address,
as with Apify Proxy's sessions. Without a session the upstreams take turns.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from worker.proxy.username import ProxyOptions


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int
    authorization: str | None  # the Proxy-Authorization value Greenroom sends it

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def parse_upstream(url: str) -> Upstream:
    parts = urlsplit(url)
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    return Upstream(parts.hostname or "", parts.port or 80, authorization)


class Upstreams:
    def __init__(self, groups: tuple[tuple[str, tuple[str, ...]], ...]):
        self._groups = {name: [parse_upstream(url) for url in urls] for name, urls in groups}
        self._turns = itertools.count()

    def unknown(self, options: ProxyOptions) -> list[str]:
        """The groups asked for that the operator did not configure."""
        return [group for group in options.groups if group not in self._groups]

    def choose(self, options: ProxyOptions) -> Upstream | None:
        """The upstream for a request with `options` (groups all known); None: connect directly."""
        pool = [upstream for group in options.groups for upstream in self._groups[group]]
        if not pool:
            return None
        if options.session is not None:
            digest = hashlib.sha256(options.session.encode()).digest()
            return pool[int.from_bytes(digest[:8], "big") % len(pool)]
        return pool[next(self._turns) % len(pool)]
