"""One client connection of the proxy: read the request head, authenticate, then tunnel (CONNECT) or
forward (an absolute-URI request), or answer the status page.

Plain HTTP is one request per client connection: the proxy tells both ends `Connection: close` and
relays bytes, never parsing bodies. Every connection is bounded (the proxy's and its run's connection
counts, its run's bytes, an idle timeout) and logged with its run (or user) when it ends.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from sqlalchemy.exc import SQLAlchemyError

from server.settings import Settings
from worker.proxy.access import Destinations, Refused
from worker.proxy.auth import Passwords, Principal
from worker.proxy.status import NOT_THROUGH_PROXY, status_response
from worker.proxy.upstreams import Upstream, Upstreams
from worker.proxy.usage import Meter, OverLimit, Usage
from worker.proxy.username import BadUsername, ProxyOptions, parse_username
from worker.proxy.wire import BadMessage, Head, read_head, response

log = logging.getLogger("greenroom.proxy")

_CHUNK = 64 * 1024
_ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
_CHALLENGE = [("Proxy-Authenticate", 'Basic realm="Greenroom Proxy"')]


class UpstreamFailed(OSError):
    """Raised when an upstream proxy refuses a tunnel."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str  # for a plain request: the origin-form target

    @property
    def label(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_target(method: str, target: str) -> Target:
    if method == "CONNECT":
        parts = urlsplit(f"//{target}")
        scheme_port = None
    else:
        parts = urlsplit(target)
        if parts.scheme != "http":
            raise BadMessage("only http:// URLs are forwarded; use CONNECT for https")
        scheme_port = 80
    try:
        port = parts.port or scheme_port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise BadMessage(f"no host and port in {target[:200]!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.hostname, port, path)


@dataclass
class Exchange:
    """What one connection did: for its log line."""

    outcome: str = "-"
    route: str = "direct"
    up: int = 0
    down: int = 0


class Proxy:
    def __init__(
        self,
        settings: Settings,
        passwords: Passwords,
        destinations: Destinations,
        upstreams: Upstreams,
        meter: Meter,
    ):
        self.settings = settings
        self.passwords = passwords
        self.destinations = destinations
        self.upstreams = upstreams
        self.meter = meter
        port = settings.proxy_port
        self.status_hosts = {
            (name.lower(), port) for name in (settings.proxy_actor_hostname, settings.proxy_host, "localhost")
        }
        self.clients = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The asyncio server's callback: one client connection, start to end."""
        peer = writer.get_extra_info("peername")
        client_ip = str(peer[0]) if peer else ""
        try:
            if self.clients >= self.settings.proxy_max_connections:
                writer.write(response(503, "Service Unavailable", "The proxy has all its connections.\n"))
                return
            self.clients += 1
            try:
                await self._serve(reader, writer, client_ip)
            finally:
                self.clients -= 1
        except (OSError, TimeoutError, BadMessage, OverLimit):
            pass  # the connection ends; _serve logged what it was for
        except SQLAlchemyError as exc:  # the database is down: say so, and go on serving
            log.warning("cannot check a proxy password: %s", exc)
            with suppress(OSError):
                writer.write(response(503, "Service Unavailable", "The proxy cannot check passwords now.\n"))
        except Exception:  # a bug must not leave the connection open, nor go unseen
            log.exception("proxy connection from %s failed", client_ip)
        finally:
            with suppress(OSError):
                writer.close()
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client_ip: str
    ) -> None:
        try:
            async with asyncio.timeout(self.settings.proxy_connect_timeout_s):
                head = await read_head(reader)
            if head is None:
                return
            method, target_text, _ = head.start
            if target_text.startswith("/"):  # asked directly, as a web server: only the status page
                writer.write(status_response(NOT_THROUGH_PROXY, client_ip))
                return
            target = parse_target(method, target_text)
        except BadMessage as exc:
            writer.write(response(400, "Bad Request", f"{exc}\n"))
            return
        principal, options, error = await self._authenticate(head)
        if (target.host.lower(), target.port) in self.status_hosts:
            await self._status(reader, writer, method, client_ip, error, options)
            return
        if principal is None or options is None:
            log.info("refused %s %s from %s: %s", method, target.label, client_ip, error)
            writer.write(response(407, "Proxy Authentication Required", f"{error}\n", _CHALLENGE))
            return
        try:
            usage = self.meter.open(principal.key)
        except OverLimit as exc:
            log.info("%s: refused %s %s: %s", principal.key, method, target.label, exc)
            writer.write(response(429, "Too Many Requests", f"{exc}\n"))
            return
        exchange = Exchange()
        started = time.monotonic()
        try:
            await self._forward(reader, writer, head, target, options, usage, exchange)
        finally:
            self.meter.close(usage)
            log.info(
                "%s: %s %s via %s: %s, %d bytes sent, %d received, %.2f s",
                principal.label,
                method,
                target.label,
                exchange.route,
                exchange.outcome,
                exchange.up,
                exchange.down,
                time.monotonic() - started,
            )

    async def _authenticate(self, head: Head) -> tuple[Principal | None, ProxyOptions | None, str | None]:
        """(whose, options, None), or what is wrong with the credentials."""
        scheme, _, encoded = (head.get("proxy-authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return None, None, "Proxy credentials are required: a username and APIFY_PROXY_PASSWORD."
        try:
            username, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            # A client that took them from a proxy URL may leave them percent-encoded.
            username, password = unquote(username), unquote(password)
        except (binascii.Error, UnicodeDecodeError):
            return None, None, "The proxy credentials are not valid Basic credentials."
        principal = await self.passwords.principal(password)
        if principal is None:
            return None, None, "Invalid proxy password (a run's password works only while its run lasts)."
        try:
            options = parse_username(username)
        except BadUsername as exc:
            return None, None, str(exc)
        if unknown := self.upstreams.unknown(options):
            return None, options, f"Proxy group {', '.join(unknown)} is not available on this Greenroom."
        return principal, options, None

    async def _status(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        client_ip: str,
        error: str | None,
        options: ProxyOptions | None,
    ) -> None:
        if method == "CONNECT":  # a client that tunnels plain HTTP too: answer inside the tunnel
            writer.write(_ESTABLISHED)
            async with asyncio.timeout(self.settings.proxy_connect_timeout_s):
                if await read_head(reader) is None:
                    return
        writer.write(status_response(error, client_ip, options))

    async def _forward(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: Head,
        target: Target,
        options: ProxyOptions,
        usage: Usage,
        exchange: Exchange,
    ) -> None:
        upstream = self.upstreams.choose(options)
        exchange.route = upstream.label if upstream else "direct"
        tunnel = head.start[0] == "CONNECT"
        try:
            async with asyncio.timeout(self.settings.proxy_connect_timeout_s):
                remote_reader, remote_writer = await self._connect(target, upstream, tunnel)
        except Refused as exc:
            exchange.outcome = "403 refused"
            writer.write(response(403, "Forbidden", f"{exc}\n"))
            return
        except TimeoutError:
            exchange.outcome = "504 connect timeout"
            writer.write(response(504, "Gateway Timeout", f"Connecting to {target.label} timed out.\n"))
            return
        except OSError as exc:
            exchange.outcome = f"502 {exc}"
            writer.write(response(502, "Bad Gateway", f"Cannot connect to {target.label}: {exc}\n"))
            return
        try:
            if tunnel:
                writer.write(_ESTABLISHED)
                exchange.outcome = "200"
            else:
                remote_writer.write(_request_head(head, target, upstream).encode())
            await self._relay(reader, writer, remote_reader, remote_writer, usage, exchange, tunnel)
        finally:
            with suppress(OSError):
                remote_writer.close()
                await remote_writer.wait_closed()

    async def _connect(
        self, target: Target, upstream: Upstream | None, tunnel: bool
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if upstream is None:
            addresses = await self.destinations.resolve(target.host, target.port)
            failure: OSError = OSError(f"{target.host} has no address")
            for address in addresses:  # each one checked
                try:
                    return await asyncio.open_connection(address, target.port, limit=_CHUNK)
                except OSError as exc:
                    failure = exc
            raise failure
        # The upstream resolves the name; a name that resolves here is still held to the rules here.
        with suppress(OSError):
            await self.destinations.resolve(target.host, target.port)
        reader, writer = await asyncio.open_connection(upstream.host, upstream.port, limit=_CHUNK)
        if tunnel:
            headers = [("Host", target.label)]
            if upstream.authorization:
                headers.append(("Proxy-Authorization", upstream.authorization))
            writer.write(Head(("CONNECT", target.label, "HTTP/1.1"), headers).encode())
            answer = await read_head(reader)
            if answer is None or answer.start[1] != "200":
                writer.close()
                status = answer.start[1] if answer else "nothing"
                raise UpstreamFailed(f"the upstream proxy {upstream.label} answered {status}")
        return reader, writer

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        remote_reader: asyncio.StreamReader,
        remote_writer: asyncio.StreamWriter,
        usage: Usage,
        exchange: Exchange,
        tunnel: bool,
    ) -> None:
        up = asyncio.create_task(self._pipe(reader, remote_writer, usage, exchange, "up"))
        down = asyncio.create_task(self._down(remote_reader, writer, usage, exchange, tunnel))
        try:
            if tunnel:  # both halves, each closed as its sender finishes
                await asyncio.gather(up, down)
            else:  # one request: done when the answer is
                await down
        except (OSError, TimeoutError, OverLimit, BadMessage) as exc:
            exchange.outcome += f" (ended: {type(exc).__name__} {exc})".rstrip()
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)

    async def _down(
        self,
        remote_reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        usage: Usage,
        exchange: Exchange,
        tunnel: bool,
    ) -> None:
        while not tunnel:  # the heads up to the final answer's (after any 100 Continue)
            async with asyncio.timeout(self.settings.proxy_idle_timeout_s):
                answer = await read_head(remote_reader)
            if answer is None:
                raise BadMessage("the server closed the connection without an answer")
            exchange.outcome = answer.start[1]
            final = not answer.start[1].startswith("1")
            headers = [*answer.end_to_end(), ("Connection", "close")] if final else answer.end_to_end()
            rewritten = Head(answer.start, headers).encode()
            writer.write(rewritten)
            exchange.down += len(rewritten)
            if final:
                break
        await self._pipe(remote_reader, writer, usage, exchange, "down")

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        usage: Usage,
        exchange: Exchange,
        direction: str,
    ) -> None:
        while True:
            async with asyncio.timeout(self.settings.proxy_idle_timeout_s):
                chunk = await source.read(_CHUNK)
            if not chunk:
                if sink.can_write_eof():
                    with suppress(OSError):
                        sink.write_eof()
                return
            usage.bytes += len(chunk)
            if direction == "up":
                exchange.up += len(chunk)
            else:
                exchange.down += len(chunk)
            sink.write(chunk)
            await sink.drain()
            self.meter.check_bytes(usage)


def _request_head(head: Head, target: Target, upstream: Upstream | None) -> Head:
    """The request as the origin (origin-form target) or the upstream (absolute, its credentials) gets
    it: end-to-end headers only, and one request on the connection."""
    headers = head.end_to_end()
    if upstream is None:
        if not any(key.lower() == "host" for key, _ in headers):
            headers.insert(0, ("Host", target.label if target.port != 80 else target.host))
        start = (head.start[0], target.path, head.start[2])
    else:
        if upstream.authorization:
            headers.append(("Proxy-Authorization", upstream.authorization))
        start = head.start
    return Head(start, [*headers, ("Connection", "close")])
