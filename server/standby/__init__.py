"""Actor Standby: actors that are HTTP servers, served at a URL of their own on the API.

- `config.py`: an actor's `actorStandby` settings, checked and with Apify's defaults filled in.
- `service.py`: the actor a standby URL names, if the caller may use it and its Standby is on.
- `routing.py`: which standby run takes a request (counting requests in flight per run in Redis),
  and when to start another; standby runs are ordinary runs with origin STANDBY.
- `proxy.py`: the request forwarded to the run's web server (the caller's token taken out) and
  its answer streamed back.
- `api.py`: the routes, `/v2/actor-standby/<username>--<actor>/...` and the wildcard host.
- `idle.py`: the sweeper's part, ending standby runs idle for longer than `idleTimeoutSecs`.
- `errors.py`: Apify's gateway errors (502, 503, 504) and 404 for an actor without Standby.
- `clients.py`: the API process's Redis and HTTP clients for all of it, opened by its lifespan.

A run's worker starts its web server on a port of `GREENROOM_STANDBY_PORTS` and writes
`runs.standby_url` once it answers Apify's readiness probe (worker/standby_server.py).
"""
