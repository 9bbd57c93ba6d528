"""The web console: server-rendered pages at `/`, beside the API at `/v2`.

A presentation layer like `server/api/`: it parses forms and renders templates, and calls
`server/services/` for every use case (the same ownership checks as the API). The live parts use
htmx (vendored in static/, see static/README.md) and a streamed log, with no build step and no network.
"""
