"""Sign in with an API token, sign out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.console.forms import read_form
from server.console.session import COOKIE, console_token, csrf_token, signed_in_user
from server.console.templating import page
from server.lifespan import state_of
from server.services.accounts import user_of_token


def _next(request: Request, raw: object) -> str:
    # Only a path on this site: never an open redirect to another host.
    return raw if isinstance(raw, str) and raw.startswith("/") and not raw.startswith("//") else "/runs"


async def sign_in_form(request: Request) -> Response:
    return page(request, "sign_in.html", None, next=_next(request, request.query_params.get("next")))


async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    token = form.get("token")
    target = _next(request, form.get("next"))
    if not isinstance(token, str) or not token.strip():
        return page(request, "sign_in.html", None, 400, next=target, error="Paste an API token.")
    token = token.strip()
    # No CSRF token can exist before sign-in; a cross-site post could only sign the browser in as
    # the attacker's own user. The Origin check refuses even that where the browser sends one.
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return page(request, "sign_in.html", None, 403, next=target, error="Sign in from this site.")
    async with state_of(request).db.read() as session:
        holder = await user_of_token(session, token)
    if holder is None:
        return page(request, "sign_in.html", None, 401, next=target, error="That token is not valid.")
    response = RedirectResponse(target, 303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


async def sign_out(request: Request) -> Response:
    form = await read_form(request)
    token = console_token(request)
    if token is not None and form.get("csrf") != csrf_token(token):
        return Response("The form has expired: reload the page.", 403)
    response = RedirectResponse("/sign-in", 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def home(request: Request) -> Response:
    user = await signed_in_user(request)
    return RedirectResponse("/runs" if user else "/sign-in", 303)
