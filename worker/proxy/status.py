"""The status page (APIFY_PROXY_STATUS_URL), answered by the proxy itself.

The SDKs fetch `<status URL>/?format=json` through the proxy with their credentials before the first
request (`checkAccess`): `connected: false` with a `connectionError` makes `createProxyConfiguration()`
throw on the platform, so a wrong password or an unknown group shows up at once, in the SDK's words.
`isManInTheMiddle` is false: HTTPS goes through CONNECT tunnels, never decrypted.
"""

from __future__ import annotations

import json
from typing import Any

from worker.proxy.username import ProxyOptions
from worker.proxy.wire import response

NOT_THROUGH_PROXY = "The request did not pass through Greenroom's proxy: use it as an HTTP proxy."


def status_body(error: str | None, client_ip: str, options: ProxyOptions | None = None) -> dict[str, Any]:
    options = options or ProxyOptions()
    return {
        "connected": error is None,
        "connectionError": error,
        "isManInTheMiddle": False,
        "clientIp": client_ip,
        "groups": list(options.groups),
        "session": options.session,
        "country": options.country,
        "service": "Greenroom",
    }


def status_response(error: str | None, client_ip: str, options: ProxyOptions | None = None) -> bytes:
    body = json.dumps(status_body(error, client_ip, options))
    return response(200, "OK", body, [("Content-Type", "application/json; charset=utf-8")])
