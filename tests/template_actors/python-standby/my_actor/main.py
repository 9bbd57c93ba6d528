"""Greets whoever asks, at any path, from inside the Actor's context (Greenroom's test, shaped as
Apify's python-standby template: a blocking HTTP server on the SDK's web server port)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, HTTPServer

from apify import Actor


class Greeter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        # The platform's readiness probe: answered before the server counts as ready.
        if "x-apify-container-server-readiness-probe" in self.headers:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ready")
            return
        body = f"Python standby greets {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


async def main() -> None:
    async with Actor:
        Actor.log.info("Standby server on port %s", Actor.configuration.web_server_port)
        with HTTPServer(("", Actor.configuration.web_server_port), Greeter) as server:
            server.serve_forever()
