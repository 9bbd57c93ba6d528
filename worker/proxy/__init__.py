"""Apify Proxy on Greenroom's own machines: a small asyncio HTTP proxy that every worker pool starts
as a process of its own (`greenroom proxy` starts one alone).

It speaks what the Apify SDKs speak: HTTP `CONNECT` tunnels and absolute-URI HTTP requests, Basic
proxy credentials whose username carries the options (`auto`, `groups-A+B,session-X,country-US`)
and whose password is a user's (users/me `proxy.password`) or a run's (APIFY_PROXY_PASSWORD), and
the status page the SDKs fetch through it (APIFY_PROXY_STATUS_URL, the proxy's own address).

- passwords.py: a run's password, derived from its token (nothing stored); auth.py: who a password is.
- username.py: the options in the username; upstreams.py: the operator's upstream proxies per group.
- access.py: the destinations the operator allows; usage.py: bounds and counters per run or user.
- wire.py: HTTP heads; status.py: the status page; server.py: one client connection; main.py: the
  process (composition root); child.py: the process as a worker pool keeps it.
"""
